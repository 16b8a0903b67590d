"""What the synthetic-data tools share: argument errors in one line, and ``kill`` unwinding like Ctrl-C."""
from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def unwind_on_sigterm() -> None:
    """Make ``kill`` (SIGTERM) raise :class:`KeyboardInterrupt` like Ctrl-C, so that a writer's cleanup runs
    and nothing half-written stays."""
    signal.signal(signal.SIGTERM, _interrupt)


def run_writer(prog: str, write: Callable[[], Path]) -> int:
    """Run a dataset writer for a tool: its output folder on stdout, exit status 0; bad arguments, an
    existing output or an unwritable folder one ``prog: error: ...`` line, 2; Ctrl-C or ``kill``, 130 (the
    writer removes its temporary folder)."""
    unwind_on_sigterm()
    try:
        out = write()
    except (ValueError, OSError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing was written", file=sys.stderr)
        return 130
    print(out)
    return 0
