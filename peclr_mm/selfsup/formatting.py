"""Packing of tracked multi-view samples: images to ``inputs``, matrices to tensor fields of ``DataSample``."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackPeCLRInputs(PackInputs):
    """Pack ``img`` (list of V views) into ``inputs`` and each matrix key into a float32 tensor data field.

    Data fields are moved to the device with the batch by the data preprocessor. The default packs
    ``aug_norm`` ((V, 3, 3), each view's augmentation in normalised view coordinates, see
    :class:`MultiViewTracked`), the one field :class:`PeCLR` reads.

    Args:
        matrix_keys (Sequence[str]): results keys to pack as tensors, e.g. add ``'homography_matrix'``
            (source -> view pixels) to inspect the warps. Missing keys are an error. Defaults to
            ``('aug_norm',)``.
        meta_keys (Sequence[str]): meta information keys. Defaults to mmpretrain's ``PackInputs`` ones.
    """

    def __init__(self, matrix_keys: Sequence[str] = ('aug_norm',),
                 meta_keys: Sequence[str] = PackInputs.DEFAULT_META_KEYS) -> None:
        super().__init__(input_key='img', algorithm_keys=(), meta_keys=meta_keys)
        self.matrix_keys = tuple(matrix_keys)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(matrix_keys={self.matrix_keys!r}, meta_keys={self.meta_keys!r})'

    def transform(self, results: dict) -> dict:
        if results.get('peclr_pending', False):
            raise RuntimeError('PackPeCLRInputs: a tracked view was never warped (add TrackedWarp)')
        missing = [k for k in self.matrix_keys if k not in results]
        if missing:
            raise KeyError(f'PackPeCLRInputs: missing {missing}; wrap the views in MultiViewTracked')
        packed = super().transform(results)
        for key in self.matrix_keys:
            packed['data_samples'].set_field(torch.from_numpy(np.asarray(results[key], np.float32)), key)
        return packed
