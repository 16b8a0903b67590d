"""Multi-view wrapper that keeps what the tracked transforms recorded for every view.

mmpretrain's ``MultiView`` keeps only the images; PeCLR also needs each view's geometric augmentation.
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

    Added/updated keys (matrices float64, column vectors):

    - ``img``: list of V images;
    - ``aug_norm`` (V, 3, 3): each view's ``aug_norm`` (its augmentation, nominal view -> view in normalised
      view coordinates; what :class:`PeCLR` undoes);
    - ``homography_matrix`` (V, 3, 3): source pixels -> view pixels, the map each view was resampled with
      (mmdet's name; kept for inspection, not packed by default).

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
        imgs, homography, aug_norm = [], [], []
        for pipeline in self.views:
            view = {k: (v if isinstance(v, np.ndarray) else copy.deepcopy(v)) for k, v in results.items()}
            out = pipeline(view)
            if out.get('peclr_pending', True) or 'homography_matrix' not in out:
                raise RuntimeError('each MultiViewTracked pipeline must contain TrackedCrop ... TrackedWarp; '
                                   f'got {pipeline}')
            imgs.append(out['img'])
            homography.append(out['homography_matrix'])
            aug_norm.append(out['aug_norm'])
        results['img'] = imgs
        results['img_shape'] = imgs[0].shape[:2]
        results['aug_norm'] = np.stack(aug_norm)
        results['homography_matrix'] = np.stack(homography)
        return results

    def __repr__(self) -> str:
        body = ''.join(f'\n  {n} x {p}' for p, n in zip(self.pipelines, self.num_views))
        return f'{self.__class__.__name__}({body})'
