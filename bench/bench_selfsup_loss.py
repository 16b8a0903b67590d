"""PeCLR loss + backward vs mmpretrain's SimCLR loss + backward: same backbone, weights and batch.

Repeats alternate between the two models (same weights, same inputs; PeCLR undoes rotation and
translation in exact mode from random augmentation matrices); the ratio of median times is printed
(target <= 1.02x).

    .venv/bin/python bench/bench_selfsup_loss.py [--depth 18] [--batch 32] [--size 64] [--repeats 15]
"""
from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import numpy as np
import torch
from mmpretrain.registry import MODELS

import peclr_mm.selfsup  # noqa: F401


def _aug_matrices():
    """The tests' matrix builder (tests/aug_matrices.py), loaded from its file."""
    spec = importlib.util.spec_from_file_location('aug_matrices', Path(__file__).resolve().parents[1] / 'tests'
                                                  / 'aug_matrices.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


aug_matrices = _aug_matrices()
aug_data_samples, random_aug_norm = aug_matrices.aug_data_samples, aug_matrices.random_aug_norm


def step(model, inputs, samples) -> float:
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    model.loss(inputs, samples)['loss'].backward()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--depth', type=int, default=18)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--repeats', type=int, default=15)
    args = p.parse_args()
    in_ch = 512 if args.depth < 50 else 2048
    cfg = dict(backbone=dict(type='ResNet', depth=args.depth, norm_cfg=dict(type='BN')),
               neck=dict(type='NonLinearNeck', in_channels=in_ch, hid_channels=512, out_channels=128,
                         num_layers=2, with_bias=True, with_last_bn=False, norm_cfg=dict(type='BN1d')),
               head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.5))
    torch.manual_seed(0)
    simclr = MODELS.build(dict(type='SimCLR', **cfg))
    peclr = MODELS.build(dict(type='PeCLR', undo=('rotate', 'translate'), mode='exact', **cfg))
    peclr.load_state_dict(simclr.state_dict())
    inputs = [torch.randn(args.batch, 3, args.size, args.size) for _ in range(2)]
    # rotation +-45 deg, shift up to 15 px per axis, about the view centre (rotation + translation undone)
    samples = aug_data_samples(random_aug_norm(2 * args.batch, seed=0, max_shift=15 / args.size))
    for _ in range(2):  # warm-up
        step(simclr, inputs, samples), step(peclr, inputs, samples)
    t_s, t_p = [], []
    for i in range(args.repeats):
        order = (simclr, peclr) if i % 2 == 0 else (peclr, simclr)
        for m in order:
            (t_s if m is simclr else t_p).append(step(m, inputs, samples))
    a, b = float(np.median(t_p)), float(np.median(t_s))
    print(f'ResNet-{args.depth}, batch {args.batch} x 2 views at {args.size} px, {torch.get_num_threads()} threads')
    print(f'PeCLR  loss+backward: {a * 1e3:8.1f} ms')
    print(f'SimCLR loss+backward: {b * 1e3:8.1f} ms')
    print(f'ratio PeCLR / SimCLR: {a / b:.3f}x  (target <= 1.02x)')

    # The added work alone: projection -> loss -> backward, no backbone/neck compute (z is the input).
    head_cfg = dict(backbone=_Identity(), neck=_Flatten(), head=cfg['head'])
    s_head = MODELS.build(dict(type='SimCLR', **head_cfg))
    p_head = MODELS.build(dict(type='PeCLR', undo=('rotate', 'translate'), **head_cfg))
    z = [torch.randn(args.batch, 128, 1, 1, requires_grad=True) for _ in range(2)]
    h_s, h_p = [], []
    for _ in range(200):
        h_s.append(step(s_head, z, samples))
        h_p.append(step(p_head, z, samples))
    hs, hp = float(np.median(h_s[20:])), float(np.median(h_p[20:]))
    print(f'loss head only (no backbone): PeCLR {hp * 1e3:.3f} ms, SimCLR {hs * 1e3:.3f} ms '
          f'-> overhead {(hp - hs) * 1e3:+.3f} ms = {(hp - hs) / b * 100:+.2f}% of the SimCLR step')


class _Identity(torch.nn.Module):
    def forward(self, x):
        return x


class _Flatten(torch.nn.Module):
    def forward(self, x):
        return (x.flatten(1),)


if __name__ == '__main__':
    main()
