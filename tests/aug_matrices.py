"""Random PeCLR augmentation matrices, shared by the self-supervised tests and bench/bench_selfsup_loss.py.

A view's augmentation is built, as ``TrackedRandomAffine`` builds it and the model receives it
(``aug_norm``), in normalised view coordinates ``(p - c) / max(H, W)``: ``G = T(t) R(theta) S(s) F``
(rotation and scale about the view centre). On view pixels the same map is ``N^-1 G N`` with ``N`` the
package's :func:`~peclr_mm.selfsup.tracked_transforms.normalization_matrix`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def random_aug_norm(n: int, seed: int, max_deg: float = 45.0, max_shift: float = 0.12,
                    scale: Sequence[float] | None = None, flip: bool = False) -> np.ndarray:
    """(n, 3, 3) float64 random similarities in normalised view coordinates.

    Args:
        n (int): number of matrices (for two views of each of ``m`` images: ``2 m``, sample-major).
        seed (int): seed of numpy's ``default_rng``.
        max_deg (float): rotation uniform in ``(-max_deg, max_deg)`` degrees.
        max_shift (float): each shift component uniform in ``(-max_shift, max_shift)``, normalised
            units (fraction of the view side).
        scale (Sequence[float], optional): ``(low, high)`` zoom range; None: no zoom (nothing drawn).
        flip (bool): mirror horizontally with probability 0.5.
    """
    g = np.random.default_rng(seed)
    out = np.empty((n, 3, 3))
    for i in range(n):
        th = math.radians(g.uniform(-max_deg, max_deg))
        s = g.uniform(*scale) if scale is not None else 1.0
        t = g.uniform(-max_shift, max_shift, 2)
        G = np.array([[s * math.cos(th), -s * math.sin(th), t[0]], [s * math.sin(th), s * math.cos(th), t[1]],
                      [0, 0, 1]])
        if flip and g.random() < 0.5:
            G = G @ np.diag([-1.0, 1, 1])
        out[i] = G
    return out


def aug_data_samples(aug) -> list:
    """mmpretrain ``DataSample``s, one per image, each with its views' (2, 3, 3) float32 ``aug_norm``,
    from the (2n, 3, 3) normalised matrices (numpy or torch) of two views of each of n images
    (sample-major)."""
    import torch
    from mmpretrain.structures import DataSample

    aug = torch.as_tensor(aug, dtype=torch.float32)
    samples = [DataSample() for _ in range(aug.size(0) // 2)]
    for ds, a in zip(samples, aug.view(-1, 2, 3, 3)):
        ds.set_field(a, 'aug_norm')
    return samples
