"""Multi-view wrapper that keeps what the tracked transforms recorded for every view.

mmpretrain's ``MultiView`` keeps only the images; PeCLR also needs each view's geometric matrix.
"""
from __future__ import annotations

import copy
from typing import List, Sequence

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class MultiViewTracked(BaseTransform):
    """Run view pipelines on one sample; stack each view's image and tracked matrices.

    Added/updated keys: ``img`` (list of V images), ``view_matrix`` (V, 3, 3) source -> view pixels,
    ``aug_matrix`` (V, 3, 3) nominal view -> view pixels (what :class:`PeCLR` undoes).

    The input dict is copied shallowly per view (arrays are shared, not deep-copied, for speed): view
    transforms must return new arrays rather than write into ``img`` in place (all tracked, appearance and
    mmcv/mmpretrain image transforms do).

    Args:
        transforms (list[list[dict]]): one pipeline per group of views; each must contain
            ``TrackedCrop`` ... ``TrackedWarp``.
        num_views (int | list[int]): views per pipeline. Defaults to 2.
    """

    def __init__(self, transforms: List[List[dict]], num_views: int | Sequence[int] = 2) -> None:
        if isinstance(num_views, int):
            num_views = [num_views]
        if len(num_views) != len(transforms):
            raise ValueError(f'num_views {list(num_views)} must have one entry per pipeline ({len(transforms)})')
        self.num_views = list(num_views)
        # Built with mmpretrain's registry so the wrapper also works outside a Runner's default scope.
        self.pipelines = [Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t for t in ts]) for ts in transforms]
        self.views = [p for p, n in zip(self.pipelines, self.num_views) for _ in range(n)]

    def transform(self, results: dict) -> dict:
        imgs, view_m, aug_m = [], [], []
        for pipeline in self.views:
            view = {k: (v if isinstance(v, np.ndarray) else copy.deepcopy(v)) for k, v in results.items()}
            out = pipeline(view)
            if out.get('peclr_pending', True) or 'homography_matrix' not in out:
                raise RuntimeError('each MultiViewTracked pipeline must contain TrackedCrop ... TrackedWarp; '
                                   f'got {pipeline}')
            imgs.append(out['img'])
            view_m.append(out['homography_matrix'])
            aug_m.append(out['peclr_aug_matrix'])
        results['img'] = imgs
        results['img_shape'] = imgs[0].shape[:2]
        results['view_matrix'] = np.stack(view_m)
        results['aug_matrix'] = np.stack(aug_m)
        return results

    def __repr__(self) -> str:
        body = ''.join(f'\n  {n} x {p}' for p, n in zip(self.pipelines, self.num_views))
        return f'{self.__class__.__name__}({body})'
