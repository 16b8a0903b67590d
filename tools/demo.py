"""``make demo``: the paper's comparison end to end on synthetic FreiHAND, on a CPU.

    python tools/demo.py                       # preset full: 3 seeds (see --help for the sizes)
    python tools/demo.py --quick               # = --preset quick: the same path with tiny sizes (~3 min)
    python tools/demo.py --preset long         # longer budgets, every seed at every label fraction
    python tools/demo.py --work-dir DIR --seeds 0 1 2 3 --jobs 2 --force

The orchestration lives in :mod:`peclr_lab.experiments` (stage graph, scheduler, statistics, report); this
script is its argument parser.
"""
from __future__ import annotations

import sys

from peclr_lab.experiments.cli import demo_main

if __name__ == '__main__':
    sys.exit(demo_main())
