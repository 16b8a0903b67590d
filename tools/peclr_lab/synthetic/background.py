"""Backgrounds: a green-screen-like studio wall (FreiHAND's 'gs' version) and random clutter (gradients,
smooth and blocky noise textures, stripes, random shapes, defocus blur) for the other versions."""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .camera import REFERENCE_SIZE

_AA = cv2.LINE_AA


@lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    """A fixed (512, 512, 3) N(0, 1) float32 tile; random crops of it are cheap per-image sensor noise.
    Built from a fixed seed, so every process and run sees the same tile."""
    return np.random.default_rng(20210801).standard_normal((512, 512, 3), dtype=np.float32)


def sensor_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float32 unit-variance noise: a random crop (and flip) of the fixed tile."""
    tile = _noise_tile()
    if size > tile.shape[0]:
        return rng.standard_normal((size, size, 3), dtype=np.float32)
    y, x = rng.integers(0, tile.shape[0] - size + 1, 2)
    crop = tile[y:y + size, x:x + size]
    return crop[::-1] if rng.random() < 0.5 else crop


def _colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) float32 random colours, mostly muted like real scenes: a uniform RGB colour pulled towards
    its grey by a random amount."""
    c = rng.uniform(0, 255, (n, 3)).astype(np.float32)
    grey = c.mean(1, keepdims=True)
    return grey + (c - grey) * rng.uniform(0.15, 1.0, (n, 1)).astype(np.float32)


def _ramp(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 1) float32 linear ramp in [0, 1] along a random direction."""
    a = rng.uniform(0.0, 2.0 * np.pi)
    g = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    ramp = np.cos(a) * g[None, :] + np.sin(a) * g[:, None]
    return ((ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6))[..., None]


def _smooth(field: np.ndarray, size: int) -> np.ndarray:
    """Upsample a low-resolution smooth float32 field to (size, size, 3): smooth layers are computed at a
    quarter of the resolution, which is 16 x cheaper and looks the same."""
    return cv2.resize(field, (size, size), interpolation=cv2.INTER_LINEAR)


def green_screen(rng: np.random.Generator, size: int) -> np.ndarray:
    """A lit green studio wall: a saturated green with a brightness ramp, vignetting and slight noise."""
    hsv = np.uint8([[[rng.integers(50, 72), rng.integers(150, 230), rng.integers(120, 210)]]])
    green = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    low = max(8, size // 4)
    light = 0.8 + 0.35 * _ramp(rng, low)
    g = np.linspace(-1.0, 1.0, low, dtype=np.float32)
    vignette = 1.0 - 0.18 * (g[None, :] ** 2 + g[:, None] ** 2)[..., None] * rng.uniform(0.3, 1.0)
    img = _smooth(green * light * vignette, size) + sensor_noise(rng, size) * rng.uniform(1.0, 4.0)
    return np.clip(img, 0, 255).astype(np.uint8)


def _base(rng: np.random.Generator, size: int) -> np.ndarray:
    """A float32 base layer: a two-colour gradient or a smooth colour-noise field."""
    if rng.random() < 0.5:
        c0, c1 = _colours(rng, 2)
        return _smooth(c0 + (c1 - c0) * _ramp(rng, max(8, size // 4)), size)
    cells = int(rng.integers(2, 7))
    field = _colours(rng, cells * cells).reshape(cells, cells, 3)
    return cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A float32 high-frequency texture: blocky noise or stripes."""
    if rng.random() < 0.5:
        cells = int(rng.integers(6, 40))
        blocks = _colours(rng, cells * cells).reshape(cells, cells, 3)
        return cv2.resize(blocks, (size, size), interpolation=cv2.INTER_NEAREST)
    period = rng.uniform(4.0, 24.0) * size / REFERENCE_SIZE
    ramp = _ramp(rng, size) * size
    wave = (np.sin(2 * np.pi * ramp / period) > 0).astype(np.float32)
    c0, c1 = _colours(rng, 2)
    return c0 + (c1 - c0) * wave


def _shapes(rng: np.random.Generator, img: np.ndarray, count: int, colour: tuple | None = None) -> None:
    """Draw ``count`` random filled/outlined rectangles, circles, ellipses, polygons and lines in place,
    in random colours unless ``colour`` is given."""
    given, size = colour, img.shape[0]
    lo, hi = -size // 4, size + size // 4
    for kind, rgb in zip(rng.integers(0, 5, count), _colours(rng, count).tolist()):
        colour = tuple(rgb) if given is None else given
        thick = -1 if rng.random() < 0.6 else int(rng.integers(1, max(2, size // 25)))
        p = rng.integers(lo, hi, 4)
        if kind == 0:
            cv2.rectangle(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour, thick, _AA)
        elif kind == 1:
            r = int(rng.integers(3, size // 3))
            cv2.circle(img, (int(p[0]), int(p[1])), r, colour, thick, _AA)
        elif kind == 2:
            axes = (int(rng.integers(3, size // 3)), int(rng.integers(3, size // 4)))
            cv2.ellipse(img, (int(p[0]), int(p[1])), axes, float(rng.uniform(0, 180)), 0.0, 360.0, colour,
                        thick, _AA)
        elif kind == 3:
            pts = rng.integers(lo, hi, (int(rng.integers(3, 7)), 2)).astype(np.int32)
            if thick < 0:
                cv2.fillPoly(img, [pts], colour, _AA)
            else:
                cv2.polylines(img, [pts], True, colour, thick, _AA)
        else:
            cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour,
                     int(rng.integers(1, max(2, size // 15))), _AA)


def clutter(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random cluttered scene: gradient or smooth-noise base, sometimes a texture layer, 6-30 random
    shapes, sometimes a textured patch, then a random defocus blur and sensor noise. (size, size, 3) uint8."""
    base = _base(rng, size)
    if rng.random() < 0.4:
        alpha = rng.uniform(0.15, 0.6)
        base = (1 - alpha) * base + alpha * _texture(rng, size)
    img = np.clip(base, 0, 255).astype(np.uint8)
    _shapes(rng, img, int(rng.integers(6, 31)))
    if rng.random() < 0.4:  # a textured object
        tex = np.clip(_texture(rng, size), 0, 255).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8)
        _shapes(rng, mask, 1, colour=(255,))
        mask = mask > 0
        img[mask] = tex[mask]
    sigma = float(rng.choice([0.0, 0.0, 0.8, 1.5, 2.5])) * size / REFERENCE_SIZE  # defocus
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    return img
