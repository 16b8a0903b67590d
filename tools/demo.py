"""``make demo``: the paper's comparison end to end on synthetic FreiHAND, on a CPU.

    python tools/demo.py                       # preset full: 3 seeds (see --help for the sizes)
    python tools/demo.py --quick               # = --preset quick: the same path with tiny sizes (~3 min)
    python tools/demo.py --preset long         # longer budgets, every seed at every label fraction
    python tools/demo.py --work-dir DIR --seeds 0 1 2 3 --jobs 2 --force

The orchestration lives in :mod:`peclr_mm.experiments` (stage graph, scheduler, statistics, report); this
script is its argument parser.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from peclr_mm.experiments.cli import demo_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(demo_main())
