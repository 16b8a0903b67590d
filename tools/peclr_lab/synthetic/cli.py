"""What the synthetic-data tools share: their parser (:func:`writer_parser`: argument errors in one line, the
output folder and the options every writer takes) and ``kill`` unwinding like Ctrl-C (:func:`run_writer`)."""
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


def writer_parser(prog: str, description: str, add_options: Callable[[argparse.ArgumentParser], None],
                  overwrite_help: str) -> OneLineParser:
    """A dataset writer's parser: the output folder, the writer's own options (``add_options(parser)``), then
    the options of every writer: ``--seed``, ``--quality``, ``--overwrite`` (``overwrite_help``: what it
    replaces) and ``--no-progress``."""
    parser = OneLineParser(prog=prog, description=description)
    parser.add_argument("out_dir", help="dataset folder to create (must not exist or be empty)")
    add_options(parser)
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed -> identical files")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (1-100)")
    parser.add_argument("--overwrite", action="store_true", help=overwrite_help)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


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
