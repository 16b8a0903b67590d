"""Running a logged command: the one subprocess runner of the demo's stages and of the GPU check.

:func:`run_logged` runs a command with the repository root as working directory, in a process group of its
own (registered in :data:`CHILDREN`, so that a signal can be forwarded to it), streams its output line by
line to a log file, echoes mmengine's iteration lines (:func:`progress_line`) and notes when each training
iteration's line arrived; with ``timeout`` the whole group is killed past it. :func:`child_env` is the
children's environment; :func:`echo` prints whole lines from any thread. ``ROOT`` is the repository,
``PY`` the Python that runs the children.

The children find ``peclr_mm`` and ``peclr_lab`` the way this process did: through the ``.venv`` (its
``.pth`` puts the repository and ``tools/`` on the path) or through the ``PYTHONPATH`` the command was started
with (the GPU machine: docs/gpu.md).
"""
from __future__ import annotations

import dataclasses
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (configs/, tools/)
PY = sys.executable

# mmengine's log lines: an iteration (with its loss and, in a pose validation, FreiHandMetric's PA-EPE)
ITER_RE = re.compile(r'Iter\((train|val|test)\)\s*\[\s*(\d+)/(\d+)\]')
TRAIN_ITER_RE = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\]')
LOSS_RE = re.compile(r'\bloss: ([-\d.e+naif]+)')
PA_EPE_RE = re.compile(r'freihand/PA-EPE: ([\d.]+)')
# mmengine's warnings when a checkpoint's weights do not match the model
BAD_LOAD = ('missing keys in source state_dict', 'unexpected key in source state_dict')

_PRINT_LOCK = threading.Lock()


def echo(text: str) -> None:
    """One line to stdout, whole even when several runs print at once."""
    with _PRINT_LOCK:
        sys.stdout.write(text.rstrip('\n') + '\n')
        sys.stdout.flush()


def child_env(single_thread: bool = True) -> dict:
    """The environment of a child command: this process's, with one OpenMP / MKL compute thread per child
    (``single_thread``; a data loader worker then gets a core of its own and OpenMP does not spin against the
    neighbouring runs) or the libraries' own default (``False``: the variables removed)."""
    env = dict(os.environ)
    if single_thread:
        env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    else:
        env.pop('OMP_NUM_THREADS', None)
        env.pop('MKL_NUM_THREADS', None)
    return env


def shown_command(cmd: Sequence[str | os.PathLike]) -> str:
    """``cmd`` as echoed: paths inside the repository relative to it."""
    return ' '.join(osp.relpath(c, ROOT) if str(c).startswith(str(ROOT)) else str(c) for c in cmd)


def _number(text: str, spec: str) -> str:
    try:
        return format(float(text), spec)
    except ValueError:
        return text


def progress_line(name: str, line: str, t0: float) -> str | None:
    """The echo of one output line of a run (mmengine's iteration lines, errors), or None."""
    m = ITER_RE.search(line)
    if m:
        loss, epe = LOSS_RE.search(line), PA_EPE_RE.search(line)
        extra = f' loss {_number(loss.group(1), ".4f")}' if loss else ''
        extra += f' PA-EPE {float(epe.group(1)):.2f} mm' if epe else ''
        return f'  [{name}] {m.group(1)} {m.group(2)}/{m.group(3)}{extra} ({time.time() - t0:.0f} s)'
    if 'Traceback' in line or 'Error' in line:
        return f'  [{name}] {line.rstrip()}'
    return None


def log_tail(log: str | os.PathLike, lines: int) -> str:
    """The last ``lines`` lines of a log file ('' when it is missing)."""
    log = Path(log)
    text = log.read_text(errors='replace') if log.exists() else ''
    return ''.join(text.splitlines(keepends=True)[-lines:])


def loaded_cleanly(log: str | os.PathLike) -> bool:
    """Whether a run's log is free of mmengine's warnings about checkpoint weights that do not match the model
    (:data:`BAD_LOAD`)."""
    text = Path(log).read_text(errors='replace')
    return not any(bad in text for bad in BAD_LOAD)


def killpg(pgid: int, signum: int) -> None:
    """``signum`` to a process group, if it is still there."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):  # the group is gone
        pass


class Interrupting(Exception):
    """A run refused because a signal has interrupted the runs (:attr:`Children.signum` set)."""


class Children:
    """The child processes running now, each the leader of its own process group, and the first signal that
    interrupted them. A re-entrant lock: the signal handler runs on the main thread, which may hold it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.live: set[subprocess.Popen] = set()
        self.signum: int | None = None
        self.since = 0.0

    def start(self, cmd: Sequence[str], **kwargs) -> subprocess.Popen:
        """Popen ``cmd`` in a new session (its own process group), stdin closed; refused once interrupted."""
        with self.lock:
            if self.signum is not None:
                raise Interrupting
            proc = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL, **kwargs)
            self.live.add(proc)
            return proc

    def finished(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.live.discard(proc)

    def send(self, signum: int) -> None:
        """``signum`` to every running child's process group (its trainer and data loader workers)."""
        with self.lock:
            for proc in self.live:
                killpg(proc.pid, signum)

    def interrupt(self, signum: int, frame=None) -> None:
        """Signal handler: the first SIGINT / SIGTERM is forwarded, a second one kills (SIGKILL)."""
        with self.lock:
            first = self.signum is None
            if first:
                self.signum, self.since = signum, time.time()
            self.send(signum if first else signal.SIGKILL)


CHILDREN = Children()


@dataclasses.dataclass
class Run:
    """The outcome of :func:`run_logged`."""

    name: str
    rc: int | None = None
    wall_s: float = 0.0
    timed_out: bool = False
    iter_times: dict[int, float] = dataclasses.field(default_factory=dict)  # train iteration -> arrival time
    log: str = ''
    pid: int | None = None  # the child's, the leader of its process group
    signum: int | None = None  # the signal that interrupted the runs while this one ran (CHILDREN.signum)

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def error(self, lines: int = 30) -> str:
        """The run's name, how it ended and its log's last ``lines`` lines."""
        tail = log_tail(self.log, lines) if self.log else ''
        what = 'timed out' if self.timed_out else f'exit status {self.rc}'
        return f'{self.name}: {what}\n{tail}'


def run_logged(name: str, cmd: Sequence[str | os.PathLike], log: Path, env: dict | None = None,
               timeout: float | None = None, header: bool = False) -> Run:
    """Run ``cmd`` (see the module's docstring) with ``env`` (default :func:`child_env`), its output into
    ``log`` (line-buffered: whole whenever the run stops; ``header``: the command as its first line). Echoes
    the command and the progress lines (none once a signal interrupted the runs: the log keeps them). Raises
    :class:`Interrupting` instead of starting after a signal."""
    cmd = [str(c) for c in cmd]
    log = Path(log)
    run = Run(name, log=str(log))
    log.parent.mkdir(parents=True, exist_ok=True)
    echo(f'[{name}] {shown_command(cmd)}')
    t0 = time.time()
    with open(log, 'w', buffering=1) as f:
        if header:
            f.write(f'$ {" ".join(cmd)}\n')
        proc = CHILDREN.start(cmd, cwd=ROOT, env=child_env() if env is None else env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, bufsize=1)
        run.pid = proc.pid

        def kill() -> None:
            run.timed_out = True
            killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(max(1.0, timeout), kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            for line in proc.stdout:
                f.write(line)
                m = TRAIN_ITER_RE.search(line)
                if m:
                    run.iter_times[int(m.group(1))] = time.time()
                shown = progress_line(name, line, t0)
                if shown and CHILDREN.signum is None:
                    echo(shown)
            run.rc = proc.wait()
        finally:
            if timer is not None:
                timer.cancel()
            if proc.poll() is None:  # reading failed: the run is not left behind
                killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            CHILDREN.finished(proc)
    run.wall_s = time.time() - t0
    run.signum = CHILDREN.signum
    return run
