"""Closed-form absolute root depth from a 2.5-D pose (Iqbal et al., ECCV 2018, eqs. 6-7).

With normalised camera rays ``x_k = K^-1 [u_k, v_k, 1]`` and scale-normalised relative depths
``zr_k = (z_k - z_root) / s``, the joints are ``P_k = x_k (z + zr_k)`` in units of ``s`` where ``z`` is
the root depth over ``s``. Requiring the reference bone (m, n) to have length 1,
``|z (x_n - x_m) + (zr_n x_n - zr_m x_m)|^2 = 1``, gives ``a z^2 + b z + c = 0`` with

    a = |x_n - x_m|^2,  b = 2 (x_n - x_m) . (zr_n x_n - zr_m x_m),  c = |zr_n x_n - zr_m x_m|^2 - 1,

and we take the larger root (the hand in front of the camera). ``a`` and the discriminant are clamped at
``eps`` as the official PeCLR model does, so an inconsistent prediction (no real root) yields the depth of
closest approach ``-b / 2a`` instead of NaN, as the release's ``(-b + sqrt(clamp(disc))) / 2a``. A real root
with ``b > 0`` is evaluated in the cancellation-free form ``2c / (-b - sqrt(disc))``, which matters for the
round trip to 1e-6 m. Both a numpy (codec) and a torch (head, differentiable in its inputs) version.
"""
from __future__ import annotations

import numpy as np
import torch

from peclr_mm.geometry import SCALE_BONE

EPS = 1e-8


def _quadratic_coeffs(rays, zrel, bone):
    m, n = bone
    xm, xn = rays[..., m, :], rays[..., n, :]
    zm, zn = zrel[..., m, None], zrel[..., n, None]
    d = xn - xm  # third component 0
    e = zn * xn - zm * xm
    a = (d * d).sum(-1)
    b = 2 * (d * e).sum(-1)
    c = (e * e).sum(-1) - 1.0
    return a, b, c


def root_depth_np(rays: np.ndarray, zrel: np.ndarray, bone: tuple[int, int] = SCALE_BONE,
                  eps: float = EPS) -> np.ndarray:
    """Scale-normalised root depth. rays: (..., K, 3) ``K^-1 [u, v, 1]``; zrel: (..., K) -> (...)."""
    a, b, c = _quadratic_coeffs(np.asarray(rays, np.float64), np.asarray(zrel, np.float64), bone)
    a = np.maximum(a, eps)
    disc = b * b - 4 * a * c
    sq = np.sqrt(np.maximum(disc, eps))
    # (-b + sq) / 2a, rewritten as 2c / (-b - sq) where -b + sq would cancel (b > 0); the two agree only for a
    # real root, so without one (disc <= eps) it stays (-b + sq) / 2a, the closest approach -b / 2a
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((b <= 0) | (disc <= eps), (-b + sq) / (2 * a), 2 * c / (-b - sq))


def root_depth_torch(rays: torch.Tensor, zrel: torch.Tensor, bone: tuple[int, int] = SCALE_BONE,
                     eps: float = EPS) -> torch.Tensor:
    """Torch version of :func:`root_depth_np`: rays (B, K, 3), zrel (B, K) -> (B,)."""
    a, b, c = _quadratic_coeffs(rays, zrel, bone)
    a = a.clamp_min(eps)
    disc = b * b - 4 * a * c
    sq = disc.clamp_min(eps).sqrt()
    pos = (b <= 0) | (disc <= eps)
    # evaluate both branches on safe denominators so neither produces inf/NaN gradients
    r1 = (-b + sq) / (2 * a)
    r2 = 2 * c / torch.where(pos, -torch.ones_like(b), -b - sq)
    return torch.where(pos, r1, r2)


def rays_np(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Normalised rays ``K^-1 [u, v, 1]``: uv (..., K, 2) pixels, K (..., 3, 3) -> (..., K, 3)."""
    uv1 = np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1)
    return np.einsum("...ij,...kj->...ki", np.linalg.inv(K), uv1)


def rays_torch(uv: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Torch version of :func:`rays_np`: uv (B, K, 2), K (B, 3, 3) -> (B, K, 3)."""
    uv1 = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)
    return uv1 @ torch.linalg.inv(K).transpose(-1, -2)
