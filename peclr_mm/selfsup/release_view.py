"""One pretraining view as the PeCLR release draws it: rotate, crop around the keypoints, resize.

The release (``src/data_loader/sample_augmenter.py``, ``SampleAugmenter.transform_sample`` with the flags of
its README command) builds each view from the source image and its 2-D keypoints:

1. rotation by ``a = floor(U(-45, 45))`` degrees about ``(int(mean x), int(mean y))`` of the keypoints
   (``cv2.getRotationMatrix2D`` + ``cv2.warpAffine``, same image size);
2. crop (``get_crop_size``): centre ``c = int(mean)`` of the rotated keypoints, ``side = int(max radius x
   U(0.9, 1.5))``, jitter ``j = (int(U(0, 15)), int(U(0, 15)))`` source pixels, origin
   ``o = max(c - side + j, 0)``, the slice ``[o, o + 2 side)`` (cut at the image border);
3. ``cv2.resize`` to 128 x 128 with ``INTER_AREA``.

The release records ``angle = a`` and ``jitter = c - side - o`` (``-j`` unless clamped) per view and its
model undoes them on the latent points (``hybrid2_model.py``): shift by ``-jitter / 128`` times the point
range, rotate by ``a`` about the centroid. Here they travel as ``aug_norm = T(t) @ R(theta)`` with
``theta = -a`` (radians) and ``t = jitter / size``, which :class:`PeCLR` with ``mode='official'`` decomposes
into exactly those two numbers.
"""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS


def release_aug_norm(angle_deg: float, jitter: Sequence[float], size: int) -> np.ndarray:
    """``T(t) @ R(theta)`` (3x3 float64) carrying the release's per-view record: ``theta = -angle``,
    ``t = jitter / size`` (the release divides the source-pixel jitter by the output size)."""
    theta = -math.radians(angle_deg)
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, jitter[0] / size], [s, c, jitter[1] / size], [0.0, 0.0, 1.0]])


@TRANSFORMS.register_module()
class ReleaseHandView(BaseTransform):
    """Draw one view as the PeCLR release (rotate, keypoint crop with jitter, ``INTER_AREA`` resize).

    Replaces ``TrackedCrop ... TrackedWarp`` inside :class:`MultiViewTracked` for the release recipe. Left
    hands (``flip_key``) are mirrored first, as the release's YouTube loader (image ``cv2.flip``,
    keypoints ``x -> W - x``).

    Required keys: ``img`` (H x W x C), ``keypoints_key`` ((K, 2) source pixels). Optional: ``flip_key``.
    Added keys: ``img`` (size x size), ``img_shape``, ``aug_norm`` (the release's angle and jitter
    record, see the module docstring), ``homography_matrix`` (source -> view pixels as the release moves
    its keypoints: flip, rotation, crop shift, per-axis resize factor), ``peclr_release`` (``angle``,
    ``jitter``, ``margin``, ``origin``, ``side``), ``peclr_pending`` = False.

    Args:
        size (int): output side. Release: 128.
        max_angle (float): rotation range ``U(-max_angle, max_angle)``, floored to whole degrees. Release: 45.
        margin (tuple): crop-margin range. Release: ``(0.9, 1.5)``.
        jitter (float): crop-box jitter ``int(U(0, jitter))`` per axis, source pixels. Release: 15.
        keypoints_key (str): results key of the keypoints. Defaults to ``'hand_keypoints'``.
        flip_key (str): results key of the left-hand flag. Defaults to ``'flip_left'``.
    """

    def __init__(self, size: int = 128, max_angle: float = 45.0, margin: Sequence[float] = (0.9, 1.5),
                 jitter: float = 15.0, keypoints_key: str = 'hand_keypoints', flip_key: str = 'flip_left') -> None:
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f'size must be a positive int (the release crops square views), got {size!r}')
        lo, hi = (float(m) for m in margin)
        if not 0 < lo <= hi or max_angle < 0 or jitter < 0:
            raise ValueError(f'need 0 < margin[0] <= margin[1], max_angle >= 0, jitter >= 0; got '
                             f'margin={margin!r}, max_angle={max_angle}, jitter={jitter}')
        self.size, self.max_angle, self.margin, self.jitter = size, float(max_angle), (lo, hi), float(jitter)
        self.keypoints_key, self.flip_key = keypoints_key, flip_key

    def _keypoints(self, results: dict) -> np.ndarray:
        kp = results.get(self.keypoints_key)
        where = results.get('img_path', 'sample')
        if kp is None:
            raise KeyError(f'{where}: ReleaseHandView needs "{self.keypoints_key}" (2-D keypoints) in the data '
                           'info; FreiHandImages and YouTube3DHands provide it')
        kp = np.asarray(kp, np.float64)
        if kp.ndim != 2 or kp.shape[1] < 2 or not len(kp) or not np.isfinite(kp[:, :2]).all():
            raise ValueError(f'{where}: "{self.keypoints_key}" must be finite (K, 2), got shape {kp.shape}')
        return kp[:, :2].copy()

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size!r}, max_angle={self.max_angle!r}, '
                f'margin={self.margin!r}, jitter={self.jitter!r}, keypoints_key={self.keypoints_key!r})')

    def transform(self, results: dict) -> dict:
        img, kp = results['img'], self._keypoints(results)
        h, w = img.shape[:2]
        flip = np.eye(3)
        if results.get(self.flip_key, False):
            img = cv2.flip(img, 1)
            kp[:, 0] = w - kp[:, 0]
            flip = np.array([[-1.0, 0, w], [0, 1, 0], [0, 0, 1]])
        # 1. rotation about the truncated keypoint mean
        angle = float(np.floor(np.random.uniform(-self.max_angle, self.max_angle)))
        centre = (int(kp[:, 0].mean()), int(kp[:, 1].mean()))
        rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
        img = cv2.warpAffine(img, rot, (w, h))
        kp = kp @ rot[:, :2].T + rot[:, 2]
        # 2. crop around the rotated keypoints
        margin = float(np.random.uniform(*self.margin))
        cx, cy = int(kp[:, 0].mean()), int(kp[:, 1].mean())
        side = int(math.sqrt(((kp[:, 0] - cx) ** 2 + (kp[:, 1] - cy) ** 2).max()) * margin)
        jit = (int(np.random.uniform(0, self.jitter)), int(np.random.uniform(0, self.jitter)))
        ox, oy = max(cx - side + jit[0], 0), max(cy - side + jit[1], 0)
        crop = img[oy:oy + 2 * side, ox:ox + 2 * side]
        if crop.size == 0:
            raise ValueError(f'{results.get("img_path", "sample")}: the release crop (origin {ox, oy}, side '
                             f'{2 * side}) is empty for image size {w}x{h}; check "{self.keypoints_key}"')
        # 3. resize
        fx, fy = self.size / crop.shape[1], self.size / crop.shape[0]
        img = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)
        record = (cx - side - ox, cy - side - oy)
        homography = np.diag([fx, fy, 1.0]) @ np.array([[1.0, 0, -ox], [0, 1, -oy], [0, 0, 1]]) \
            @ np.vstack([rot, [0, 0, 1]]) @ flip
        results.update(img=img, img_shape=img.shape[:2], homography_matrix=homography,
                       aug_norm=release_aug_norm(angle, record, self.size), peclr_pending=False,
                       peclr_release=dict(angle=angle, jitter=record, margin=margin, origin=(ox, oy), side=side))
        return results
