"""Sampling several concatenated sources in fixed proportions, redrawn every epoch (the PeCLR release's mixing)."""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


def source_sizes(dataset) -> list[int]:
    """Sizes of the sources concatenated in ``dataset``: ``MixedHandDataset`` (``sizes``, unweighted) or a
    torch/mmengine ``ConcatDataset`` (``cumulative_sizes``)."""
    if getattr(dataset, 'sizes', None) is not None:
        if getattr(dataset, 'metainfo', {}).get('weights') is not None:
            raise ValueError('SourceBalancedSampler draws the sources itself: give MixedHandDataset no weights')
        return [int(s) for s in dataset.sizes]
    if getattr(dataset, 'cumulative_sizes', None) is not None:
        return np.diff([0, *dataset.cumulative_sizes]).astype(int).tolist()
    raise TypeError(f'SourceBalancedSampler needs a concatenation of sources (MixedHandDataset or ConcatDataset), '
                    f'got {type(dataset).__name__}')


@DATA_SAMPLERS.register_module()
class SourceBalancedSampler(Sampler):
    """Weighted sampling with replacement: each item of source ``k`` has weight ``weights[k] / len(source k)``.

    As the release (``src/data_loader/utils.py``, ``get_train_val_split``): ``WeightedRandomSampler`` with
    weight ``1 / len(source)`` per item, ``replacement=True``, ``num_samples`` = all items, so with equal
    ``weights`` every source fills the same share of each batch on average (FreiHAND : YouTube3DHands =
    50 : 50). The draw is ``torch.multinomial`` with a generator seeded by ``seed + epoch`` (a new draw each
    epoch, the same on every rank); each rank takes every ``world_size``-th index of it.

    Args:
        dataset: a concatenation of sources (:func:`source_sizes`).
        weights (Sequence[float], optional): share of each source. Defaults to equal shares.
        num_samples (int, optional): draws per epoch over all ranks. Defaults to ``len(dataset)``.
        seed (int, optional): base seed; None draws one and shares it across ranks.
    """

    def __init__(self, dataset, weights: Sequence[float] | None = None, num_samples: int | None = None,
                 seed: int | None = None) -> None:
        sizes = source_sizes(dataset)
        w = np.ones(len(sizes)) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (len(sizes),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f'weights must be {len(sizes)} non-negative numbers with a positive sum, got {weights}')
        if any(s == 0 for s in sizes):
            raise ValueError(f'SourceBalancedSampler: a source is empty (sizes {sizes})')
        self.sizes, self.weights = sizes, w
        item = np.repeat(w / np.asarray(sizes), sizes)
        # normalised by the sequential sum, as the release's ``np.array(weights) / sum(weights)``
        self.item_weights = torch.from_numpy(item / sum(item.tolist()))
        self.rank, self.world_size = get_dist_info()
        total = int(num_samples) if num_samples is not None else len(dataset)
        if total <= 0:
            raise ValueError(f'num_samples must be positive, got {num_samples}')
        self.num_samples = math.ceil(total / self.world_size)
        self.total_size = self.num_samples * self.world_size
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0

    def draw(self, epoch: int) -> torch.Tensor:
        """All ranks' indices of ``epoch`` (``total_size``)."""
        g = torch.Generator()
        g.manual_seed(self.seed + epoch)
        return torch.multinomial(self.item_weights, self.total_size, replacement=True, generator=g)

    def __iter__(self) -> Iterator[int]:
        return iter(self.draw(self.epoch)[self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
