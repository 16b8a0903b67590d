"""Facts about the device: ``nvidia-smi`` samples while the runs train (:class:`GpuSampler`) and the versions,
the GPU and the compiled ops of this machine (:func:`environment`)."""
from __future__ import annotations

import platform
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .wheelhouse import STACK_MODULES


class GpuSampler:
    """``nvidia-smi`` utilisation and memory every 500 ms in the background (nothing without nvidia-smi)."""

    QUERY = ['nvidia-smi', '--query-gpu=utilization.gpu,memory.used', '--format=csv,noheader,nounits', '-lms', '500']

    def __init__(self, log: Path) -> None:
        self.log = log
        self.samples: list[tuple[float, float, float]] = []  # (time, util %, memory MiB)
        self.proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        if shutil.which('nvidia-smi') is None:
            return False
        self.proc = subprocess.Popen(self.QUERY, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return True

    def _read(self) -> None:
        with open(self.log, 'w') as f:
            for line in self.proc.stdout:
                now = time.time()
                f.write(f'{now:.3f}, {line}')
                parsed = parse_smi_line(line)
                if parsed is not None:
                    self.samples.append((now, *parsed))

    def window(self, t0: float | None, t1: float | None) -> dict | None:
        if t0 is None or t1 is None:
            return None
        return gpu_stats([s for s in self.samples if t0 <= s[0] <= t1])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def parse_smi_line(line: str) -> tuple[float, float] | None:
    """``'87, 14230'`` -> (87.0, 14230.0); the first GPU's line only matters (one GPU)."""
    parts = [p.strip() for p in line.split(',')]
    try:
        return float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        return None


def gpu_stats(samples: Sequence[tuple[float, float, float]]) -> dict | None:
    if not samples:
        return None
    util = [s[1] for s in samples]
    return dict(util_mean=round(statistics.fmean(util), 1), util_median=round(statistics.median(util), 1),
                util_min=min(util), mem_used_mib_max=max(s[2] for s in samples), samples=len(samples))


def environment() -> dict:
    """Versions and the device, for the report (imports torch and the stack)."""
    import importlib.metadata as md

    import numpy
    import torch
    env = dict(python=platform.python_version(), torch=torch.__version__, torch_cuda=torch.version.cuda,
               numpy=numpy.__version__, host=platform.node())
    for name in (*STACK_MODULES, 'torchvision'):
        try:
            env[name] = md.version(name)
        except md.PackageNotFoundError:
            env[name] = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f'{p.major}.{p.minor}',
                   cudnn=torch.backends.cudnn.version())
        try:
            v = torch.cuda.nccl.version()
            env['nccl'] = '.'.join(map(str, v)) if isinstance(v, tuple) else str(v)
        except Exception as e:  # noqa: BLE001 - informational
            env['nccl'] = f'unknown ({type(e).__name__})'
    try:  # the compiled ops load (CPU kernels); whether they have CUDA kernels is reported, not needed
        from mmcv.ops import nms
        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
        env['mmcv_ops_cpu'] = len(nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)[1]) == 2
        if torch.cuda.is_available():
            try:
                nms(boxes.cuda(), torch.tensor([0.9, 0.8, 0.7]).cuda(), 0.5)
                env['mmcv_ops_cuda'] = True
            except Exception as e:  # noqa: BLE001 - a CPU-only build of the ops: reported, not needed here
                env['mmcv_ops_cuda'] = f'no ({type(e).__name__})'
    except Exception as e:  # noqa: BLE001
        env['mmcv_ops_cpu'] = f'failed: {type(e).__name__}: {e}'
    return env
