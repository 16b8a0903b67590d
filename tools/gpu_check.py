"""GPU readiness check: the paper-scale configs on one GPU in minutes (docs/gpu.md).

    PYTHONPATH=$PWD:$PWD/tools python tools/gpu_check.py   # on a GPU machine (no .venv): installs device_wheels/
    python tools/gpu_check.py --tiny           # the same steps on the CPU in about a minute (a test)

Renders synthetic FreiHAND + YouTube3DHands sets, checks PeCLR's loss and the cross-rank gather on the GPU
against the CPU, then runs the upstream tools/train.py on the project's configs (PeCLR and SimCLR ResNet-50
at 128 px, bf16 AMP; the 2.5-D ResNet-50 fine-tuning at 224 px from the PeCLR backbone, and tools/test.py
with FreiHandMetric), and writes gpu_check.json, gpu_check.md and gpu_check_logs.tar.gz to --out ($OUT).
The steps are the package :mod:`peclr_lab.gpu_check`; this script is its command line.
"""
from __future__ import annotations

import sys

from peclr_lab.gpu_check.cli import main  # imports neither torch nor the stack

if __name__ == '__main__':
    sys.exit(main())
