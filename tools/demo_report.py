"""Rebuild the report of a finished ``tools/demo.py`` run (results.md/json/png, equivariance.png, pictures).

    python tools/demo_report.py work_dirs/demo

The report code is :mod:`peclr_lab.experiments.report`; this script is its argument parser.
"""
from __future__ import annotations

import sys

from peclr_lab.experiments.cli import report_main

if __name__ == '__main__':
    sys.exit(report_main())
