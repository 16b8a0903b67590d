"""Which inverse makes a position-encoding latent agree across views? Evidence for PeCLR's default.

An "ideal equivariant encoder" outputs the normalised image coordinates of 4 coloured markers (soft
centroid), i.e. z = 8 numbers read as 4 points. Two views of one image go through the real tracked pipeline
(rotation +-45 deg, shift 0-15 px, crop margin 0.9-1.5, 128 px). For each inverse setting we print the mean
positive-pair misalignment ``1 - cos`` of the final L2-normalised vectors (0 = the contrastive positive is
perfectly canonicalised) and, for ``normalize='after'``, the canonical point gap in view pixels.

    .venv/bin/python bench/bench_selfsup_inverse.py [--samples 40]
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch
from mmcv.transforms import Compose
from torch.nn import functional as F

import peclr_mm.selfsup  # noqa: F401
from peclr_mm.selfsup import PeCLR

COLOURS = ((0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255))  # BGR: red, green, blue, white
SIZE = 128


def _image(rng) -> np.ndarray:
    img = rng.integers(0, 20, (224, 224, 3)).astype(np.uint8)
    for c in COLOURS:
        cv2.circle(img, tuple(int(v) for v in rng.integers(80, 145, 2)), 4, c, -1)
    return img


def _points(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) BGR views -> (B, 8): normalised coordinates of the 4 markers."""
    B, _, H, W = x.shape
    ys, xs = torch.meshgrid(torch.arange(H, dtype=x.dtype), torch.arange(W, dtype=x.dtype), indexing='ij')
    out = []
    for c in COLOURS:
        if sum(c) == 3 * 255:  # white: bright in every channel
            w = (x.amin(1) - 128).clamp(min=0) ** 2
        else:
            k = int(np.argmax(c))
            w = (x[:, k] - x[:, [o for o in range(3) if o != k]].amax(1)).clamp(min=0) ** 2
        w = w / w.sum((1, 2), keepdim=True).clamp(min=1e-12)
        out += [((w * xs).sum((1, 2)) - (W - 1) / 2) / W, ((w * ys).sum((1, 2)) - (H - 1) / 2) / H]
    return torch.stack(out, 1)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--samples', type=int, default=40)
    args = p.parse_args()
    views = [dict(type='TrackedCrop', size=SIZE, margin=1.2),
             dict(type='TrackedRandomAffine', max_angle=45, shift=(0, 15), margin=(0.9, 1.5)),
             dict(type='TrackedWarp')]
    pipe = Compose([dict(type='mmpretrain.MultiViewTracked', num_views=2, transforms=[views]),
                    dict(type='mmpretrain.PackPeCLRInputs')])
    rng = np.random.default_rng(0)
    np.random.seed(0)
    batch = [pipe(dict(img=_image(rng))) for _ in range(args.samples)]
    z = _points(torch.stack([torch.stack(b['inputs']) for b in batch]).flatten(0, 1).float())  # (2n, 8)
    aug = torch.stack([b['data_samples'].aug_norm for b in batch]).flatten(0, 1)  # normalised view coordinates
    net = dict(backbone=dict(type='ResNet', depth=18), neck=dict(type='NonLinearNeck', in_channels=1,
               hid_channels=1, out_channels=2), head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss')))
    settings = [((), 'exact', 'after', 'nothing undone (SimCLR)'),
                (('rotate', 'translate'), 'official', 'both', 'official release (default undo)'),
                (('rotate', 'translate'), 'exact', 'both', 'exact, normalise first'),
                (('rotate', 'translate'), 'exact', 'after', 'exact on raw, normalise after [default]'),
                (('rotate', 'translate', 'scale'), 'official', 'both', 'official + scale'),
                (('rotate', 'translate', 'scale'), 'exact', 'after', 'exact + scale on raw')]
    print(f'{args.samples} image pairs, 4 markers, rotation +-45, shift 0-15 px, margin 0.9-1.5, {SIZE} px')
    print(f'{"setting":44s} {"1 - cos(pos)":>12s} {"gap px":>8s}')
    for undo, mode, norm, name in settings:
        m = PeCLR(undo=undo, mode=mode, normalize=norm, **net)
        canon = m.canonicalize(z, aug)
        final = F.normalize(canon.flatten(1)).view(-1, 2, z.size(1))
        mis = (1 - (final[:, 0] * final[:, 1]).sum(-1)).mean().item()
        gap = ''
        if norm == 'after':
            c = canon.view(-1, 2, z.size(1) // 2, 2)
            gap = f'{(c[:, 0] - c[:, 1]).norm(dim=-1).mean().item() * SIZE:8.2f}'
        print(f'{name:44s} {mis:12.5f} {gap:>8s}')


if __name__ == '__main__':
    main()
