"""Weighted mixing of several hand-image sources into one pretraining set."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS
from torch.utils.data import Dataset


@DATASETS.register_module()
class MixedHandDataset(Dataset):
    """Draw items from several datasets in proportion to ``weights``.

    Without weights, the datasets are concatenated (every item once per epoch). With weights, an epoch
    has ``length`` items (default: the total size); item ``i`` comes from source ``k`` with probability
    ``weights[k] / sum(weights)`` and is a uniformly drawn item of that source. The table is fixed by
    ``seed``, so indices are reproducible and samplers/shuffling work as usual.

    Args:
        datasets (Sequence[dict | Dataset]): the sources (configs are built with mmpretrain's DATASETS).
        weights (Sequence[float], optional): non-negative mixing weights, one per source.
        length (int, optional): items per epoch when weighting. Defaults to the sum of source sizes.
        seed (int): seed of the mixing table. Defaults to 0.
    """

    def __init__(self, datasets: Sequence, weights: Sequence[float] | None = None,
                 length: int | None = None, seed: int = 0) -> None:
        if not datasets:
            raise ValueError('MixedHandDataset needs at least one dataset')
        self.datasets = [DATASETS.build(d) if isinstance(d, dict) else d for d in datasets]
        sizes = np.array([len(d) for d in self.datasets])
        empty = [i for i, s in enumerate(sizes) if s == 0]
        if empty:
            raise ValueError(f'MixedHandDataset: source(s) {empty} are empty '
                             f'({[type(self.datasets[i]).__name__ for i in empty]})')
        self.sizes = sizes
        if weights is None:
            src = np.repeat(np.arange(len(sizes)), sizes)
            item = np.concatenate([np.arange(s) for s in sizes])
        else:
            w = np.asarray(weights, np.float64)
            if w.shape != (len(sizes),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f'weights must be {len(sizes)} non-negative finite numbers with a positive '
                                 f'sum, got {list(weights)}')
            n = int(length) if length is not None else int(sizes.sum())
            if n <= 0:
                raise ValueError(f'length must be positive, got {length}')
            rng = np.random.default_rng(seed)
            src = rng.choice(len(sizes), size=n, p=w / w.sum())
            item = (rng.random(n) * sizes[src]).astype(np.int64)
        self._src, self._item = src, item
        self.metainfo = dict(sources=[type(d).__name__ for d in self.datasets], weights=weights)

    def full_init(self) -> None:
        for d in self.datasets:
            if isinstance(d, BaseDataset):
                d.full_init()

    def get_data_info(self, idx: int) -> dict:
        return self.datasets[self._src[idx]].get_data_info(int(self._item[idx]))

    @property
    def pipeline(self):
        """The sources' common pipeline; setting it sets every source's (as mmpretrain's
        ``tools/visualization/browse_dataset.py`` replaces ``dataset.pipeline`` to inspect each step)."""
        pipelines = [getattr(d, 'pipeline', None) for d in self.datasets]
        if any(p is None for p in pipelines) or len({repr(p) for p in pipelines}) > 1:
            raise AttributeError('MixedHandDataset: its sources have no common pipeline')
        return pipelines[0]

    @pipeline.setter
    def pipeline(self, value) -> None:
        for d in self.datasets:
            d.pipeline = value

    def source_of(self, idx: int) -> int:
        """Index of the source dataset item ``idx`` is drawn from."""
        return int(self._src[idx])

    def __len__(self) -> int:
        return len(self._src)

    def __getitem__(self, idx: int) -> dict:
        return self.datasets[self._src[idx]][int(self._item[idx])]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(sources={self.metainfo["sources"]!r}, '
                f'sizes={self.sizes.tolist()!r}, weights={self.metainfo["weights"]!r}, length={len(self)!r})')
