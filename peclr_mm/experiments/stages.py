"""Stages: commands (subprocesses of upstream tools) with a log, a completion stamp and dependencies.

A :class:`Stage` runs ``cmd`` with the repository root as working directory, streams its output to
``<out>/stage.log`` and echoes progress lines prefixed by the stage's name. On success (exit status 0 and
the ``done`` file present) it writes ``<out>/stage.json``: the command, the SHA-1 of the resolved config
(bases and ``--cfg-options`` merged) and the wall time. A later run skips a stage whose stamp records the
same command and config fingerprint and whose ``done`` file exists; ``force`` reruns it.

:func:`run_stages` runs a list of stages, up to ``jobs`` at once, each when the stages it depends on have
finished. After a failure it launches nothing more, waits for the running stages and raises
:class:`StageFailed` with the failed stage's log tail.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import os.path as osp
import queue
import re
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ..fileio import atomic_write_json

ROOT = Path(__file__).resolve().parents[2]  # the repository (configs/, tools/)
PY = sys.executable

_PRINT_LOCK = threading.Lock()
_CONFIG_LOCK = threading.Lock()  # mmengine's Config.fromfile is not thread-safe (temporary modules)


def echo(text: str) -> None:
    """One line to stdout, whole even when stages print at once."""
    with _PRINT_LOCK:
        sys.stdout.write(text.rstrip('\n') + '\n')
        sys.stdout.flush()


@dataclasses.dataclass
class Stage:
    name: str  # e.g. 'pretrain/peclr_s0'; the prefix of its progress lines
    cmd: Sequence[str | os.PathLike]
    out: Path  # folder of stage.log / stage.json
    done: Path  # the file the stage must produce
    deps: tuple[str, ...] = ()  # names of stages that must finish first
    wall_s: float | None = None  # set when run or skipped
    skipped: bool = False


class StageFailed(RuntimeError):
    """A stage exited non-zero, did not write its output, or loaded weights with missing keys."""

    def __init__(self, stage: Stage, message: str, log: Path | None = None) -> None:
        tail = ''
        if log is not None and log.exists():
            tail = ''.join(log.read_text(errors='replace').splitlines(keepends=True)[-25:])
        super().__init__(f'{tail}\n[{stage.name}] {message}' + (f'; full log: {log}' if log else ''))
        self.stage = stage


def merged_config(config: str | Path, options: Sequence[str] = ()):
    """``config`` with ``options`` (``--cfg-options`` values) merged, as upstream train.py sees it (custom
    imports not run)."""
    from mmengine.config import Config, DictAction

    with _CONFIG_LOCK:
        cfg = Config.fromfile(str(config), import_custom_modules=False)
        if options:
            parser = argparse.ArgumentParser()
            parser.add_argument('--cfg-options', nargs='+', action=DictAction)
            cfg.merge_from_dict(parser.parse_args(['--cfg-options', *map(str, options)]).cfg_options)
    return cfg


def config_fingerprint(cmd: Sequence[str]) -> str | None:
    """SHA-1 of the resolved config (bases and --cfg-options merged) of a train/test command, so that an
    edited config (or one of its bases) reruns its stage; None for commands without a config."""
    cfgs = [c for c in cmd if c.endswith('.py') and osp.join('configs', '') in c]
    if not cfgs:
        return None
    options = list(cmd[cmd.index('--cfg-options') + 1:]) if '--cfg-options' in cmd else []
    text = json.dumps(merged_config(cfgs[0], options).to_dict(), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def stage_env(single_thread: bool = True) -> dict:
    """The environment of stage commands: the repository on PYTHONPATH; one compute thread per run (the data
    loader worker gets another core, and OpenMP does not spin against neighbours: 2 threads on the shared
    2-core box gave 1.4-1.8 s per pretraining iteration instead of 0.28 s)."""
    paths = [str(ROOT), *(p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p and p != str(ROOT))]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))  # no empty entry: it would put the cwd on sys.path
    if single_thread:
        env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    else:
        env.pop('OMP_NUM_THREADS', None)
        env.pop('MKL_NUM_THREADS', None)
    return env


_ITER_RE = re.compile(r'Iter\((train|test)\)\s*\[\s*(\d+)/(\d+)\]')
_LOSS_RE = re.compile(r'\bloss: ([-\d.e+]+)')
_PA_EPE_RE = re.compile(r'freihand/PA-EPE: ([\d.]+)')
BAD_LOAD = ('missing keys in source state_dict', 'unexpected key in source state_dict')


def progress_line(name: str, line: str, t0: float) -> str | None:
    """The echo of one output line of a stage (mmengine's iteration lines, errors), or None."""
    m = _ITER_RE.search(line)
    if m:
        loss, epe = _LOSS_RE.search(line), _PA_EPE_RE.search(line)
        extra = f' loss {float(loss.group(1)):.4f}' if loss else ''
        extra += f' PA-EPE {float(epe.group(1)):.2f} mm' if epe else ''
        return f'  [{name}] {m.group(1)} {m.group(2)}/{m.group(3)}{extra} ({time.time() - t0:.0f} s)'
    if 'Traceback' in line or 'Error' in line:
        return f'  [{name}] {line.rstrip()}'
    return None


def stage_is_done(stage: Stage, fingerprint: str | None) -> dict | None:
    """The stamp of a finished stage with the same command and config, or None."""
    stamp = stage.out / 'stage.json'
    if not (stamp.exists() and stage.done.exists()):
        return None
    rec = json.loads(stamp.read_text())
    same = rec.get('cmd') == [str(c) for c in stage.cmd] and rec.get('config_sha1') == fingerprint
    return rec if same else None


def run_stage(stage: Stage, force: bool = False, env: dict | None = None) -> float:
    """Run one stage (or skip it when done before, unless ``force``); its wall time (recorded when skipped).
    Raises :class:`StageFailed`."""
    cmd = [str(c) for c in stage.cmd]
    fingerprint = config_fingerprint(cmd)
    rec = None if force else stage_is_done(stage, fingerprint)
    if rec is not None:
        echo(f'[{stage.name}] done before ({rec["wall_s"]:.0f} s), skipped; --force reruns it')
        stage.wall_s, stage.skipped = rec['wall_s'], True
        return rec['wall_s']
    stage.out.mkdir(parents=True, exist_ok=True)
    stamp = stage.out / 'stage.json'
    if stamp.exists():
        stamp.unlink()
    shown = ' '.join(osp.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in cmd)
    echo(f'[{stage.name}] {shown}')
    log_path = stage.out / 'stage.log'
    t0 = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env if env is not None else stage_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            log.write(line)
            shown = progress_line(stage.name, line, t0)
            if shown:
                echo(shown)
        rc = proc.wait()
    wall = time.time() - t0
    if rc != 0 or not stage.done.exists():
        raise StageFailed(stage, f'failed (exit status {rc}, expected {stage.done})', log_path)
    text = log_path.read_text(errors='replace')
    if any(bad in text for bad in BAD_LOAD):
        raise StageFailed(stage, 'the pretrained backbone did not load cleanly (missing/unexpected keys)',
                          log_path)
    atomic_write_json(stamp, dict(cmd=cmd, config_sha1=fingerprint, wall_s=wall))
    stage.wall_s = wall
    echo(f'[{stage.name}] finished in {wall:.0f} s')
    return wall


def check_graph(stages: Sequence[Stage]) -> None:
    """Unique names, known dependencies, no cycles (dependencies listed before their dependants)."""
    seen: set[str] = set()
    names = {s.name for s in stages}
    if len(names) != len(stages):
        raise ValueError('duplicate stage names')
    for s in stages:
        unknown = [d for d in s.deps if d not in names]
        if unknown:
            raise ValueError(f'{s.name}: unknown dependencies {unknown}')
        later = [d for d in s.deps if d not in seen]
        if later:
            raise ValueError(f'{s.name}: depends on {later}, listed after it (order the plan topologically)')
        seen.add(s.name)


def run_stages(stages: Sequence[Stage], jobs: int = 2, force: bool = False, env: dict | None = None,
               runner: Callable[..., float] = run_stage) -> dict[str, float]:
    """Run ``stages`` (topologically ordered), at most ``jobs`` at once, each once its ``deps`` finished;
    launch order follows the list. Returns the wall time per stage name. On a failure: launch nothing more,
    wait for the running stages, raise :class:`StageFailed` of the first failure (the others are echoed)."""
    if jobs < 1:
        raise ValueError(f'jobs must be >= 1, got {jobs}')
    check_graph(stages)
    pending = list(stages)
    finished: set[str] = set()
    running: dict[str, threading.Thread] = {}
    results: queue.Queue = queue.Queue()
    walls: dict[str, float] = {}
    failures: list[StageFailed] = []

    def work(stage: Stage) -> None:
        try:
            results.put((stage, runner(stage, force=force, env=env), None))
        except StageFailed as e:
            results.put((stage, None, e))
        except Exception as e:  # noqa: BLE001 - a bug in a stage runner is a failure of that stage
            tb = ''.join(traceback.format_exception(e)[-6:])
            results.put((stage, None, StageFailed(stage, f'{tb}{type(e).__name__}: {e}')))

    while pending or running:
        if not failures:
            for stage in list(pending):
                if len(running) >= jobs:
                    break
                if all(d in finished for d in stage.deps):
                    pending.remove(stage)
                    t = threading.Thread(target=work, args=(stage,), name=stage.name, daemon=True)
                    running[stage.name] = t
                    t.start()
        if not running:
            break  # failed: nothing left running; or nothing can start (cannot happen after check_graph)
        stage, wall, err = results.get()
        running.pop(stage.name).join()
        if err is None:
            finished.add(stage.name)
            walls[stage.name] = wall
        else:
            failures.append(err)
            if running:
                echo(f'[{stage.name}] FAILED; waiting for {", ".join(running)} to finish, launching nothing more')
    if failures:
        for later in failures[1:]:
            echo(f'also failed: {later.stage.name}')
        not_run = [s.name for s in pending]
        if not_run:
            echo(f'not run: {", ".join(not_run)}')
        raise failures[0]
    return walls
