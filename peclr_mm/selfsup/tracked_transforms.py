"""Transform-tracking geometric augmentation: compose one matrix per view, resample once.

Frames: *source pixels* (the loaded image), *view pixels* (the output view, pixel centres at integer
coordinates as in ``cv2.warpAffine``) and *normalised view coordinates* ``n = (p - c) / L`` with
``c = ((W - 1) / 2, (H - 1) / 2)`` the view centre and ``L = max(W, H)``;
:func:`normalization_matrix` (the one place that builds it) maps view pixels to normalised coordinates.

Two matrices are kept in ``results`` while a view is built (3x3 float64, column vectors):

- ``peclr_crop_px``: source pixels -> *nominal* view pixels (the un-augmented crop: the hand box scaled to
  the output size, left hands mirrored). Set by :class:`TrackedCrop`.
- ``aug_norm``: the random geometric augmentation, nominal view -> view, in normalised view
  coordinates. Built by :class:`TrackedRandomAffine` as ``T(t) @ R(theta) @ S(s) @ F`` (flip, then scale
  and rotation about the view centre, then shift).

:class:`TrackedWarp` alone goes to pixels, only to resample: it applies
``A = N^-1 @ aug_norm @ N @ peclr_crop_px`` with **one** ``cv2.warpAffine`` and records ``A`` as
``homography_matrix`` (source -> view pixels, mmdet's name). ``aug_norm`` travels on unchanged to
:class:`PeCLR`, which decomposes it and undoes it on the latent points (in the same normalised frame).
"""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

_INTERP = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}


def normalization_matrix(height: int, width: int) -> np.ndarray:
    """3x3 float64 ``N``: view pixels -> normalised view coordinates ``(p - c) / max(H, W)`` (centre at 0).

    A map ``M`` on view pixels is ``N @ M @ N^-1`` on normalised coordinates, and back: ``N^-1 @ G @ N``.

    Args:
        height (int): view height in pixels.
        width (int): view width in pixels.
    """
    L = float(max(height, width))
    return np.array([[1 / L, 0, -(width - 1) / 2 / L], [0, 1 / L, -(height - 1) / 2 / L], [0, 0, 1]])


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    """``size`` as (width, height)."""
    if isinstance(size, int):
        return size, size
    w, h = size
    return int(w), int(h)


def _tracked_shape(results: dict, name: str) -> tuple[int, int]:
    """The view's output shape ``(H, W)``; a view not started by :class:`TrackedCrop` is an error naming ``name``."""
    if 'peclr_crop_px' not in results or 'aug_norm' not in results:
        raise KeyError(f'{name} needs TrackedCrop earlier in the view pipeline')
    return results['peclr_out_shape']


def _range(value: float | Sequence[float], name: str, symmetric: bool = False) -> tuple[float, float]:
    """A number ``v`` means ``(-v, v)`` when ``symmetric`` else ``(v, v)``; a pair is taken as is."""
    if isinstance(value, int | float):
        lo, hi = (-abs(value), abs(value)) if symmetric else (value, value)
    else:
        lo, hi = (float(v) for v in value)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f'{name} must be a finite (low, high) range with low <= high, got {value!r}')
    return float(lo), float(hi)


@TRANSFORMS.register_module()
class TrackedCrop(BaseTransform):
    """Start a tracked view: the nominal square crop around the hand, resized to ``size``.

    The crop is centred on ``results[bbox_key]`` (``x1, y1, x2, y2`` in source pixels) with side
    ``margin x`` the box diagonal, as the official PeCLR crop (``2 x`` max keypoint radius ``x`` margin). Without
    a box, the crop is centred on the image with side ``margin x max(H, W)``. If ``results[flip_key]`` is true
    (a left hand), the nominal view is mirrored so that every hand looks right. Nothing is resampled here.

    Required keys: ``img``. Optional: ``bbox_key``, ``flip_key``.
    Added keys: ``peclr_crop_px`` (source pixels -> nominal view pixels), ``aug_norm`` (identity, in
    normalised view coordinates), ``peclr_out_shape`` ``(H, W)``, ``peclr_pending``.

    Args:
        size (int | tuple[int, int]): output (width, height). Paper: 128.
        margin (float): crop side relative to the box diagonal (or to the image side). Defaults to 1.0.
        bbox_key (str): results key of the hand box. Defaults to ``'hand_bbox'``.
        flip_key (str): results key of the left-hand flag. Defaults to ``'flip_left'``.
    """

    def __init__(self, size: int | Sequence[int] = 128, margin: float = 1.0, bbox_key: str = 'hand_bbox',
                 flip_key: str = 'flip_left') -> None:
        self.size = _pair(size)
        if not margin > 0:
            raise ValueError(f'margin must be > 0, got {margin}')
        self.margin = float(margin)
        self.bbox_key = bbox_key
        self.flip_key = flip_key

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size!r}, margin={self.margin!r}, '
                f'bbox_key={self.bbox_key!r})')

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        box = results.get(self.bbox_key)
        if box is not None:
            x1, y1, x2, y2 = (float(v) for v in box)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            side = self.margin * math.hypot(x2 - x1, y2 - y1)
        else:
            cx, cy = (w - 1) / 2, (h - 1) / 2
            side = self.margin * max(h, w)
        if not side > 0:
            raise ValueError(f'{results.get("img_path", "image")}: degenerate {self.bbox_key} {box!r}')
        out_w, out_h = self.size
        k = max(out_w, out_h) / side
        crop_px = np.array([[k, 0, (out_w - 1) / 2 - k * cx], [0, k, (out_h - 1) / 2 - k * cy], [0, 0, 1.0]])
        if results.get(self.flip_key, False):
            crop_px = np.array([[-1.0, 0, out_w - 1], [0, 1, 0], [0, 0, 1]]) @ crop_px
        results['peclr_crop_px'] = crop_px
        results['aug_norm'] = np.eye(3)
        results['peclr_out_shape'] = (out_h, out_w)
        results['peclr_pending'] = True
        return results


@TRANSFORMS.register_module()
class TrackedRandomAffine(BaseTransform):
    """Draw a random similarity (flip, scale, rotation, shift) and compose it onto ``aug_norm``.

    ``aug_norm <- T(t) @ R(theta) @ S(1 / margin) @ F @ aug_norm`` in normalised view
    coordinates, so rotation and scale act about the view centre; the shift is drawn in output pixels and
    stored divided by ``max(H, W)``. Updated key: ``aug_norm``. Needs
    :class:`TrackedCrop` before and :class:`TrackedWarp` after; nothing is resampled here.

    Args:
        max_angle (float | tuple): rotation range in degrees; a number ``a`` means ``(-a, a)``. Paper: 45.
        shift (float | tuple): per-axis shift magnitude range in output pixels. Defaults to ``(0, 15)``.
        random_sign (bool): draw the sign of each shift component at random (view-to-view shifts up to
            twice the magnitude). The release draws ``int(U(0, 15))`` *source* pixels, positive only, around
            the keypoint mean: :class:`~peclr_mm.selfsup.release_view.ReleaseHandView`.
        margin (float | tuple): crop-margin range; the view is zoomed by ``1 / margin``. Paper: ``(0.9, 1.5)``.
        flip_prob (float): probability of a horizontal flip (our extension; the paper does not flip).
        rotate_prob (float): probability of rotating at all. Defaults to 1.
    """

    def __init__(self, max_angle: float | Sequence[float] = 45.0, shift: float | Sequence[float] = (0.0, 15.0),
                 random_sign: bool = True, margin: float | Sequence[float] = (0.9, 1.5), flip_prob: float = 0.0,
                 rotate_prob: float = 1.0) -> None:
        self.angle = _range(max_angle, 'max_angle', symmetric=True)
        self.shift = _range(shift, 'shift')
        self.margin = _range(margin, 'margin')
        if self.margin[0] <= 0:
            raise ValueError(f'margin must be > 0, got {margin!r}')
        for name, p in (('flip_prob', flip_prob), ('rotate_prob', rotate_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {p}')
        self.random_sign = random_sign
        self.flip_prob = flip_prob
        self.rotate_prob = rotate_prob

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(max_angle={self.angle!r}, shift={self.shift!r}, '
                f'random_sign={self.random_sign!r}, margin={self.margin!r}, flip_prob={self.flip_prob!r}, '
                f'rotate_prob={self.rotate_prob!r})')

    def transform(self, results: dict) -> dict:
        out_h, out_w = _tracked_shape(results, 'TrackedRandomAffine')
        flip = np.random.rand() < self.flip_prob
        zoom = 1.0 / np.random.uniform(*self.margin)
        theta = math.radians(np.random.uniform(*self.angle)) if np.random.rand() < self.rotate_prob else 0.0
        t = np.random.uniform(*self.shift, size=2)
        if self.random_sign:
            t *= np.where(np.random.rand(2) < 0.5, -1.0, 1.0)
        t = t / max(out_h, out_w)  # output pixels -> normalised units
        c, s = math.cos(theta), math.sin(theta)
        step = np.array([[zoom * c, -zoom * s, t[0]], [zoom * s, zoom * c, t[1]], [0, 0, 1.0]])
        if flip:
            step = step @ np.diag([-1.0, 1.0, 1.0])
        results['aug_norm'] = step @ results['aug_norm']
        return results


@TRANSFORMS.register_module()
class TrackedWarp(BaseTransform):
    """Resample the view once with the composed matrix (``cv2.warpAffine``).

    The only step that takes the augmentation to pixels: ``A = N^-1 @ aug_norm @ N @ peclr_crop_px``
    (``N``: :func:`normalization_matrix`). ``aug_norm`` is left as it is (normalised view coordinates).

    Added/updated keys: ``img``, ``img_shape``, ``homography_matrix`` (``A``: source -> view pixels);
    ``peclr_pending`` becomes False.

    Args:
        interpolation (str): ``'nearest'``, ``'bilinear'`` or ``'bicubic'``. Defaults to ``'bilinear'``.
        border_value (float | tuple): fill value outside the source image. Defaults to 0.
    """

    def __init__(self, interpolation: str = 'bilinear', border_value: float | Sequence[float] = 0) -> None:
        if interpolation not in _INTERP:
            raise ValueError(f'interpolation must be one of {sorted(_INTERP)}, got {interpolation!r}')
        self.interpolation = interpolation
        self.border_value = border_value

    def __repr__(self) -> str:
        fields = f'interpolation={self.interpolation!r}, border_value={self.border_value!r}'
        return f'{self.__class__.__name__}({fields})'

    def transform(self, results: dict) -> dict:
        out_h, out_w = _tracked_shape(results, 'TrackedWarp')
        N = normalization_matrix(out_h, out_w)
        matrix = np.linalg.inv(N) @ results['aug_norm'] @ N @ results['peclr_crop_px']
        bv = self.border_value
        bv = tuple(float(v) for v in bv) if isinstance(bv, tuple | list) else (float(bv),) * 4
        results['img'] = cv2.warpAffine(results['img'], matrix[:2], (out_w, out_h), flags=_INTERP[self.interpolation],
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=bv)
        results['img_shape'] = (out_h, out_w)
        results['homography_matrix'] = matrix
        results['peclr_pending'] = False
        return results
