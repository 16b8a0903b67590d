"""Image loading that names the file it could not read."""
from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadHandImage(BaseTransform):
    """Read ``results['img_path']`` as an 8-bit BGR image (HxWx3 uint8) into ``img``.

    Missing, empty or corrupt files raise ``OSError`` naming the file (mmcv's ``LoadImageFromFile`` fails
    with an unrelated ``AttributeError`` on corrupt files).
    Added keys: ``img``, ``img_shape``, ``ori_shape``.
    """

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as e:
            raise OSError(f'{path}: cannot read image file ({e.strerror or e})') from e
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if img is None:
            raise OSError(f'{path}: not a readable image (empty or corrupt)')
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = img.shape[:2]
        return results
