"""Stages: commands (subprocesses of upstream tools) with a log, a completion stamp and dependencies.

A :class:`Stage` runs ``cmd`` through :func:`..runner.run_logged` (the repository root as working directory,
a process group of its own, its output streamed to ``<out>/stage.log``, progress lines echoed prefixed by
the stage's name). On success (exit status 0 and the ``done`` file present) it writes ``<out>/stage.json``: its
key (:func:`stage_key`: the command, the SHA-1 of the resolved config, of the data it reads and of each
upstream stage's ``done`` file) and the wall time. A later run skips a stage whose ``done`` file exists and
whose stamp records the same key, so a changed upstream output or data set reruns every stage that reads
it; ``force`` reruns it.

:func:`run_stages` runs a list of stages, up to ``jobs`` at once, each when the stages it depends on have
finished. After a failure it launches nothing more, waits for the running stages and raises
:class:`StageFailed` with the failed stage's log tail. SIGINT / SIGTERM are forwarded to the running
stages' process groups; they are waited for, stamped ``interrupted`` and :class:`Interrupted` is raised.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import os.path as osp
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from peclr_mm.fileio import atomic_write_json

from ..config_options import merged_config
from ..runner import CHILDREN, Interrupting, echo, killpg, loaded_cleanly, log_tail, run_logged


@dataclasses.dataclass
class Stage:
    name: str  # e.g. 'pretrain/peclr_s0'; the prefix of its progress lines
    cmd: Sequence[str | os.PathLike]
    out: Path  # folder of stage.log / stage.json
    done: Path  # the file the stage must produce
    deps: tuple[str, ...] = ()  # names of stages that must finish first (their done files are read)
    inputs: tuple[Path, ...] = ()  # what else it reads (data set folders, files no stage of the plan makes)
    wall_s: float | None = None  # set when run or skipped
    skipped: bool = False


class StageFailed(RuntimeError):
    """A stage exited non-zero, did not write its output, or loaded weights with missing keys."""

    def __init__(self, stage: Stage, message: str, log: Path | None = None) -> None:
        tail = log_tail(log, 25) if log is not None else ''
        super().__init__(f'{tail}\n[{stage.name}] {message}' + (f'; full log: {log}' if log else ''))
        self.stage = stage


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the run; ``stages``: the stages stopped before finishing."""

    def __init__(self, signum: int, stages: Sequence[str] = ()) -> None:
        self.signum, self.stages = signum, tuple(stages)
        self.exit_status = 128 + signum
        stopped = f'; stopped {", ".join(self.stages)} (not done: a rerun restarts them)'
        super().__init__(f'interrupted by {signal.Signals(signum).name}' + (stopped if self.stages else ''))


GRACE_S = 10.0  # after a forwarded signal, stages still running this long are killed (SIGKILL)


def command_config(cmd: Sequence[str | os.PathLike]):
    """The resolved config (bases and --cfg-options merged) of a train/test command: its first ``configs/``
    ``.py`` argument with the values after ``--cfg-options``; None for commands without a config."""
    cmd = [str(c) for c in cmd]
    cfgs = [c for c in cmd if c.endswith('.py') and osp.join('configs', '') in c]
    if not cfgs:
        return None
    options = cmd[cmd.index('--cfg-options') + 1:] if '--cfg-options' in cmd else []
    return merged_config(cfgs[0], options)


def config_fingerprint(cmd: Sequence[str]) -> str | None:
    """SHA-1 of the resolved config (:func:`command_config`) of a train/test command, so that an edited config
    (or one of its bases) reruns its stage; None for commands without a config."""
    cfg = command_config(cmd)
    if cfg is None:
        return None
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def read_stamp(path: Path) -> dict | None:
    """A stamp (``stage.json``, the data set's ``<data>.json``), or None when missing or unreadable (a
    truncated file: one warning line naming it; the stage reruns)."""
    try:
        rec = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        echo(f'warning: {path}: unreadable stamp ({type(e).__name__}: {e}); treated as not done')
        return None
    if not isinstance(rec, dict):
        echo(f'warning: {path}: not a stamp (a JSON {type(rec).__name__}); treated as not done')
        return None
    return rec


def file_sha1(path: str | os.PathLike) -> str | None:
    """SHA-1 of a file's bytes, or None when it is missing."""
    h = hashlib.sha1()
    try:
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                h.update(block)
    except FileNotFoundError:
        return None
    return h.hexdigest()


def input_fingerprint(path: str | os.PathLike) -> str | None:
    """SHA-1 of what a stage reads at ``path``: a file's bytes; for a FreiHAND-format folder its annotation
    files (xyz, K, scale of both splits) and the synthetic set's marker (the render settings, which also fix
    the images); None when missing."""
    from peclr_mm.freihand import SPLITS, annotation_file

    from ..synthetic.writer import MARKER

    path = Path(path)
    if not path.is_dir():
        return file_sha1(path)
    files = [path / MARKER, *(Path(annotation_file(path, split, field))
                              for split in SPLITS for field in ('xyz', 'K', 'scale'))]
    h = hashlib.sha1()
    for f in files:
        h.update(f'{f.name} {file_sha1(f)}\n'.encode())
    return h.hexdigest()


def stage_key(stage: Stage, upstream: Mapping[str, Path] | None = None) -> dict:
    """What a stage's result depends on: its command, the resolved config's fingerprint, the fingerprint of
    each of its ``inputs`` and the SHA-1 of each upstream stage's ``done`` file (``upstream``: name ->
    path)."""
    cmd = [str(c) for c in stage.cmd]
    return dict(cmd=cmd, config_sha1=config_fingerprint(cmd),
                inputs={str(p): input_fingerprint(p) for p in stage.inputs},
                upstream={name: file_sha1(p) for name, p in (upstream or {}).items()})


def rerun_reason(stage: Stage, key: dict) -> str | None:
    """Why ``stage`` must run (a few words), or None when its stamp records ``key`` and its output exists."""
    rec = read_stamp(stage.out / 'stage.json')
    if rec is None:
        return 'unreadable stamp' if (stage.out / 'stage.json').exists() else 'not run before'
    if rec.get('status', 'done') != 'done':
        return f'{rec["status"]} before'
    if not stage.done.exists():
        return f'{stage.done} missing'
    if rec.get('cmd') != key['cmd']:
        return 'command changed'
    if rec.get('config_sha1') != key['config_sha1']:
        return 'config changed'
    for field, what in (('inputs', 'input'), ('upstream', 'output of')):
        old = rec.get(field) or {}
        changed = [k for k, v in key[field].items() if old.get(k) != v]
        if changed:
            return f'{what} {", ".join(changed)} changed'
    return None


def run_stage(stage: Stage, force: bool = False, env: dict | None = None,
              upstream: Mapping[str, Path] | None = None) -> float:
    """Run one stage (or skip it when done before with the same :func:`stage_key`, unless ``force``); its
    wall time (recorded when skipped). ``upstream``: the ``done`` file of each stage it depends on. Raises
    :class:`StageFailed`."""
    key = stage_key(stage, upstream)
    stamp = stage.out / 'stage.json'
    reason = 'forced' if force else rerun_reason(stage, key)
    if reason is None:
        wall = read_stamp(stamp).get('wall_s', 0.0)
        echo(f'[{stage.name}] done before ({wall:.0f} s), skipped; --force reruns it')
        stage.wall_s, stage.skipped = wall, True
        return wall
    stage.out.mkdir(parents=True, exist_ok=True)
    if stamp.exists():
        echo(f'[{stage.name}] rerun: {reason}')
        stamp.unlink()
    log_path = stage.out / 'stage.log'
    run = run_logged(stage.name, key['cmd'], log_path, env=env)
    rc, wall = run.rc, run.wall_s
    if run.signum is not None and not (rc == 0 and stage.done.exists()):
        killpg(run.pid, signal.SIGKILL)  # whatever of its group outlived the leader
        name = signal.Signals(run.signum).name
        with open(log_path, 'a') as log:
            log.write(f'\n# interrupted by {name} after {wall:.0f} s (exit status {rc}); not done, a rerun '
                      'restarts this stage\n')
        atomic_write_json(stamp, dict(status='interrupted', signal=name, **key, wall_s=wall))
        echo(f'[{stage.name}] interrupted after {wall:.0f} s; log: {log_path}')
        raise Interrupting
    if rc != 0 or not stage.done.exists():
        raise StageFailed(stage, f'failed (exit status {rc}, expected {stage.done})', log_path)
    if not loaded_cleanly(log_path):
        raise StageFailed(stage, 'the pretrained backbone did not load cleanly (missing/unexpected keys)',
                          log_path)
    atomic_write_json(stamp, dict(status='done', **key, wall_s=wall))
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
    wait for the running stages, raise :class:`StageFailed` of the first failure (the others are echoed).
    On SIGINT / SIGTERM (when called from the main thread): forward it to the running stages, launch nothing
    more, wait for them (SIGKILL after :data:`GRACE_S` or a second signal), raise :class:`Interrupted`."""
    if jobs < 1:
        raise ValueError(f'jobs must be >= 1, got {jobs}')
    check_graph(stages)
    by_name = {s.name: s for s in stages}
    pending = list(stages)
    finished: set[str] = set()
    running: dict[str, threading.Thread] = {}
    results: queue.Queue = queue.Queue()
    walls: dict[str, float] = {}
    failures: list[StageFailed] = []
    stopped: list[str] = []

    def work(stage: Stage) -> None:
        try:
            upstream = {d: by_name[d].done for d in stage.deps}
            results.put((stage, runner(stage, force=force, env=env, upstream=upstream), None))
        except (StageFailed, Interrupting) as e:
            results.put((stage, None, e))
        except Exception as e:  # noqa: BLE001 - a bug in a stage runner is a failure of that stage
            tb = ''.join(traceback.format_exception(e)[-6:])
            results.put((stage, None, StageFailed(stage, f'{tb}{type(e).__name__}: {e}')))

    CHILDREN.signum = None
    handled = (signal.SIGINT, signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, CHILDREN.interrupt) for s in handled} if main else {}
    killed = False
    try:
        while pending or running:
            if not failures and CHILDREN.signum is None:
                for stage in list(pending):
                    if len(running) >= jobs:
                        break
                    if all(d in finished for d in stage.deps):
                        pending.remove(stage)
                        t = threading.Thread(target=work, args=(stage,), name=stage.name, daemon=True)
                        running[stage.name] = t
                        t.start()
            if not running:
                break  # failed or interrupted, nothing left running (or nothing can start: not after check_graph)
            try:
                stage, wall, err = results.get(timeout=0.5)
            except queue.Empty:
                if CHILDREN.signum is not None and not killed and time.time() - CHILDREN.since > GRACE_S:
                    echo(f'still running {GRACE_S:.0f} s after the signal: killing {", ".join(running)}')
                    CHILDREN.send(signal.SIGKILL)
                    killed = True
                continue
            running.pop(stage.name).join()
            if err is None:
                finished.add(stage.name)
                walls[stage.name] = wall
            elif isinstance(err, Interrupting):
                stopped.append(stage.name)
            else:
                failures.append(err)
                if running and CHILDREN.signum is None:
                    echo(f'[{stage.name}] FAILED; waiting for {", ".join(running)} to finish, launching nothing '
                         'more')
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    signum = CHILDREN.signum
    for later in failures[0 if signum is not None else 1:]:
        echo(f'also failed: {later.stage.name}')
    if pending:
        echo(f'not run: {", ".join(s.name for s in pending)}')
    if signum is not None:
        raise Interrupted(signum, [s.name for s in stages if s.name in stopped])
    if failures:
        raise failures[0]
    return walls
