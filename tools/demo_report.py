"""Rebuild the report of a finished ``tools/demo.py`` run (results.md/json/png, equivariance.png, pictures).

    python tools/demo_report.py work_dirs/demo

The report code is :mod:`peclr_mm.experiments.report`; this script is its argument parser.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from peclr_mm.experiments.cli import report_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(report_main())
