"""Training step of the demo's backbone: float32 against channels-last, bfloat16 autocast and both
(``peclr_mm.training_speed``), in one process, one thread, the same weights and batch.

Each repeat runs the four settings in turn (forward and backward of a half-width ResNet-18 at 64 px, batch
128: the CPU demo's pretraining step); the speed-up of each is the ratio of median times to float32's.
Targets on a CPU with AMX (``cpu_has_fast_bf16()``): channels-last + bf16 >= 1.6x. Without AMX bf16 is
printed but has no target.

    .venv/bin/python bench/bench_training_speed.py [--batch 128] [--size 64] [--repeats 7]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from mmpretrain.models.backbones import ResNet

from peclr_mm.training_speed import cpu_has_fast_bf16

SETTINGS = {'float32': (False, False), 'channels-last': (True, False), 'bf16 autocast': (False, True),
            'channels-last + bf16': (True, True)}


def step(model: torch.nn.Module, x: torch.Tensor, channels_last: bool, bf16: bool) -> float:
    model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        loss = model(x)[-1].float().square().mean()
    loss.backward()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--repeats', type=int, default=7)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ResNet(depth=18, stem_channels=32, base_channels=32)
    x = torch.randn(args.batch, 3, args.size, args.size)
    times = {k: [] for k in SETTINGS}
    for r in range(args.repeats + 1):
        for name, (cl, bf) in SETTINGS.items():
            t = step(model, x, cl, bf)
            if r:  # the first round warms up oneDNN's kernels
                times[name].append(t)
    base = float(np.median(times['float32']))
    amx = cpu_has_fast_bf16()
    print(f'ResNet-18 w32, batch {args.batch}, {args.size} px, 1 thread, {args.repeats} repeats; '
          f'AMX bf16: {"yes" if amx else "no"}')
    for name in SETTINGS:
        med = float(np.median(times[name]))
        target = ' (target >= 1.6x)' if name == 'channels-last + bf16' and amx else ''
        print(f'{name:22s} {med:.3f} s  {base / med:.2f}x{target}')


if __name__ == '__main__':
    main()
