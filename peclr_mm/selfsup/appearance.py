"""Appearance augmentations for hand crops; they change pixels only, never the tracked matrices.

mmcv 2.1.0's ``adjust_hue`` overflows for negative hue shifts (so mmpretrain's ``ColorJitter(hue>0)``
crashes); :class:`HSVColorJitter` is our own, with the official PeCLR semantics: multiply hue and saturation,
``value * alpha + beta``, in OpenCV's 8-bit HSV. Each channel map is a 256-entry lookup table (fast).
Colour drop and blur are mmpretrain's ``RandomGrayscale`` and ``GaussianBlur``.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS


def _check_range(r: Sequence[float], name: str, low: float = 0.0) -> tuple[float, float]:
    lo, hi = (float(v) for v in r)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi or lo < low:
        raise ValueError(f'{name} must be a finite (low, high) range with {low} <= low <= high, got {r!r}')
    return lo, hi


@TRANSFORMS.register_module()
class HSVColorJitter(BaseTransform):
    """Official PeCLR colour jitter on an 8-bit BGR image (``img``: HxWx3 uint8, modified copy returned).

    ``H <- clip(H * h)``, ``S <- clip(S * s)``, ``V <- clip(V * alpha + beta)`` with each factor uniform in
    its range; OpenCV hue is in [0, 180). ``rounding='floor'`` is the release's arithmetic exactly (every
    channel clipped to [0, 255] in float64, then truncated by ``astype(np.uint8)``); ``'nearest'`` clips hue
    to [0, 179] and rounds.

    The release loads images as RGB and converts them with ``COLOR_BGR2HSV`` (hue of the red/blue-swapped
    colours); on mmcv's BGR images ``rgb_input=True`` converts the same way.

    Args:
        hue (tuple): hue factor range. Paper: ``(0.01, 1.0)``.
        saturation (tuple): saturation factor range. Paper: ``(0.01, 1.0)``.
        value_alpha (tuple): brightness gain range. Paper: ``(0.5, 1.0)``.
        value_beta (tuple): brightness offset range (0-255 units). Paper: ``(5, 20)``.
        prob (float): probability of jittering. Paper: 1.
        rgb_input (bool): set if ``img`` is RGB rather than mmcv's default BGR.
        rounding (str): ``'nearest'`` or ``'floor'`` (the release). Defaults to ``'nearest'``.
    """

    def __init__(self, hue: Sequence[float] = (0.01, 1.0), saturation: Sequence[float] = (0.01, 1.0),
                 value_alpha: Sequence[float] = (0.5, 1.0), value_beta: Sequence[float] = (5.0, 20.0),
                 prob: float = 1.0, rgb_input: bool = False, rounding: str = 'nearest') -> None:
        self.hue = _check_range(hue, 'hue')
        self.saturation = _check_range(saturation, 'saturation')
        self.value_alpha = _check_range(value_alpha, 'value_alpha')
        self.value_beta = _check_range(value_beta, 'value_beta', low=-255.0)
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.rgb_input = rgb_input
        if rounding not in ('nearest', 'floor'):
            raise ValueError(f"rounding must be 'nearest' or 'floor', got {rounding!r}")
        self.rounding = rounding
        self._ramp = np.arange(256, dtype=np.float64 if rounding == 'floor' else np.float32)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(hue={self.hue!r}, saturation={self.saturation!r}, '
                f'value_alpha={self.value_alpha!r}, value_beta={self.value_beta!r}, prob={self.prob!r}, '
                f'rgb_input={self.rgb_input!r}, rounding={self.rounding!r})')

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError(f'HSVColorJitter needs an HxWx3 uint8 image, got {img.dtype} {img.shape}')
        h, s = np.random.uniform(*self.hue), np.random.uniform(*self.saturation)
        a, b = np.random.uniform(*self.value_alpha), np.random.uniform(*self.value_beta)
        ramp = self._ramp
        hue_max = 255 if self.rounding == 'floor' else 179
        lut = np.stack([np.clip(ramp * h, 0, hue_max), np.clip(ramp * s, 0, 255), np.clip(ramp * a + b, 0, 255)], -1)
        lut = (lut if self.rounding == 'floor' else np.rint(lut)).astype(np.uint8).reshape(256, 1, 3)
        fwd, back = ((cv2.COLOR_RGB2HSV, cv2.COLOR_HSV2RGB) if self.rgb_input
                     else (cv2.COLOR_BGR2HSV, cv2.COLOR_HSV2BGR))
        hsv = cv2.cvtColor(np.ascontiguousarray(img), fwd)
        results['img'] = cv2.cvtColor(cv2.LUT(hsv, lut), back)
        return results


@TRANSFORMS.register_module()
class RandomGaussianNoise(BaseTransform):
    """Add zero-mean Gaussian noise (std in 0-255 units) to a uint8 image, with probability ``prob``.

    Args:
        std (float): noise standard deviation. Official default: 25.
        prob (float): probability of adding noise. Defaults to 0.5.
    """

    def __init__(self, std: float = 25.0, prob: float = 0.5) -> None:
        if not std >= 0 or not 0 <= prob <= 1:
            raise ValueError(f'need std >= 0 and 0 <= prob <= 1, got std={std}, prob={prob}')
        self.std = float(std)
        self.prob = prob

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(std={self.std!r}, prob={self.prob!r})'

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        noise = np.random.normal(0.0, self.std, img.shape).astype(np.float32)
        results['img'] = np.clip(img.astype(np.float32) + noise, 0, 255).astype(img.dtype)
        return results
