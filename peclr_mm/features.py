"""Pooling of backbone features, shared by both halves (torch only: imports neither mmpretrain nor mmpose)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def pool_features(feats: torch.Tensor | Sequence[torch.Tensor], grid: int = 1) -> torch.Tensor:
    """A backbone's output (one map, or a tuple or list whose last map is used) -> (B, C * grid * grid).

    A (B, C, H, W) map is average-pooled to ``grid x grid`` cells (``adaptive_avg_pool2d``; ``grid=1``, the
    default, is the global average over H and W) and flattened channel-major; already pooled features,
    e.g. (B, C), are flattened to (B, -1). The dtype is kept.
    """
    x = feats[-1] if isinstance(feats, tuple | list) else feats
    if x.dim() == 4:
        return F.adaptive_avg_pool2d(x, grid).flatten(1)
    return x.flatten(1)
