"""Image loading that names the file it could not read."""
from __future__ import annotations

import logging

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadHandImage(BaseTransform):
    """Read ``results['img_path']`` as an 8-bit BGR image (HxWx3 uint8) into ``img``.

    Missing, empty or corrupt files raise ``OSError`` naming the file (mmcv's ``LoadImageFromFile`` fails
    with an unrelated ``AttributeError`` on corrupt files). With ``skip_unreadable=True`` such a file is
    logged (path, and the count of skipped files in this process) and the sample is dropped: the transform
    returns None, and mmengine's ``BaseDataset`` fetches another training sample in its place (up to its
    ``max_refetch``).
    Added keys: ``img``, ``img_shape``, ``ori_shape``.

    Args:
        skip_unreadable (bool): skip unreadable images instead of stopping the run. Defaults to False.
    """

    def __init__(self, skip_unreadable: bool = False) -> None:
        self.skip_unreadable = skip_unreadable
        self.skipped = 0

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(skip_unreadable={self.skip_unreadable!r})'

    def transform(self, results: dict) -> dict | None:
        path = results['img_path']
        try:
            try:
                data = np.fromfile(path, dtype=np.uint8)
            except OSError as e:
                raise OSError(f'{path}: cannot read image file ({e.strerror or e})') from e
            img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if img is None:
                raise OSError(f'{path}: not a readable image (empty or corrupt)')
        except OSError as err:
            if not self.skip_unreadable:
                raise
            self.skipped += 1
            print_log(f'LoadHandImage: skipped {err} ({self.skipped} skipped in this process)',
                      logger='current', level=logging.WARNING)
            return None
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = img.shape[:2]
        return results
