"""Two-view data pipeline throughput: PeCLR's tracked views vs mmpretrain's stock SimCLR views.

Both produce two 128 px views of 224 px FreiHAND-sized images (decoded in memory, so file IO is excluded
for both) and pack them. Ours: TrackedCrop + TrackedRandomAffine (rotation, shift, scale) + one
TrackedWarp + HSVColorJitter, matrices packed. Stock: mmpretrain's SimCLR view pipeline
(RandomResizedCrop pillow, flip, ColorJitter p=0.8, grayscale p=0.2, GaussianBlur p=0.5) + PackInputs.
Rounds alternate between the two; the ratio of median images/s is printed (target >= 1.5x).

    .venv/bin/python bench/bench_selfsup_pipeline.py [--samples 200] [--rounds 5] [--size 128]
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from mmcv.transforms import Compose

import peclr_mm.selfsup  # noqa: F401


def _images(n: int, side: int = 224, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 255, (side, side, 3), dtype=np.uint8), (0, 0), 3)
        cv2.circle(img, tuple(int(v) for v in rng.integers(60, 160, 2)), 30, (60, 150, 230), -1)
        out.append(img)
    return out


def tracked(size: int):
    views = [dict(type='TrackedCrop', size=size, margin=1.0),
             dict(type='TrackedRandomAffine', max_angle=45, shift=(0, 15 * size / 128), margin=(0.9, 1.5)),
             dict(type='TrackedWarp'),
             dict(type='HSVColorJitter')]
    return Compose([dict(type='mmpretrain.MultiViewTracked', num_views=2, transforms=[views]),
                    dict(type='mmpretrain.PackPeCLRInputs')])


def stock(size: int, hue: float):
    views = [dict(type='mmpretrain.RandomResizedCrop', scale=size, backend='pillow'),
             dict(type='mmpretrain.RandomFlip', prob=0.5),
             dict(type='mmpretrain.RandomApply', prob=0.8, transforms=[
                 dict(type='mmpretrain.ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=hue)]),
             dict(type='mmpretrain.RandomGrayscale', prob=0.2, keep_channels=True,
                  channel_weights=(0.114, 0.587, 0.2989)),
             dict(type='mmpretrain.GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5)]
    return Compose([dict(type='mmpretrain.MultiView', num_views=2, transforms=[views]),
                    dict(type='mmpretrain.PackInputs')])


def rate(pipeline, images) -> float:
    t0 = time.perf_counter()
    for i, img in enumerate(images):
        pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2], sample_idx=i))
    return 2 * len(images) / (time.perf_counter() - t0)  # views per second


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--samples', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--size', type=int, default=128)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    images = _images(args.samples)
    ours = tracked(args.size)
    hue = 0.2  # the stock SimCLR setting; mmcv 2.1.0's adjust_hue overflows for negative shifts
    ref = stock(args.size, hue)
    np.random.seed(0)
    try:
        for img in images[:50]:
            ref(dict(img=img))
    except Exception as e:  # noqa: BLE001
        print(f'stock ColorJitter(hue={hue}) fails on this stack ({type(e).__name__}: {e}); using hue=0')
        hue, ref = 0.0, stock(args.size, 0.0)
    rate(ours, images[:20]), rate(ref, images[:20])  # warm-up
    r_ours, r_ref = [], []
    for _ in range(args.rounds):
        r_ours.append(rate(ours, images))
        r_ref.append(rate(ref, images))
    a, b = float(np.median(r_ours)), float(np.median(r_ref))
    print(f'tracked two-view pipeline : {a:8.1f} views/s')
    print(f'stock SimCLR (hue={hue})   : {b:8.1f} views/s')
    print(f'ratio tracked / stock     : {a / b:.2f}x  (target >= 1.5x)')


if __name__ == '__main__':
    main()
