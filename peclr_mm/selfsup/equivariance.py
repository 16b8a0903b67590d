"""Undoing a view's geometric augmentation on latent 2-D points (torch, differentiable in the points).

Points and augmentations share one frame, normalised view coordinates ``(p - c) / max(H, W)`` (see
``tracked_transforms``): the pipeline delivers each view's augmentation ``aug_norm`` in it, so nothing here
knows the view size. The augmentation of a view is a similarity with optional flip, decomposed uniquely as
``G = T(t) @ R(theta) @ S(s) @ F``. Two ways to undo chosen parts of it:

- ``exact``: ``q = F^-1 S^-1 R^-1 (p - t)``, restricted to the chosen parts (all four: exactly ``G^-1``);
- ``official`` (the PeCLR release, ``hybrid2_model.py``): shift by ``-t`` times each sample's latent
  point range per axis, then rotate by ``-theta`` about the point centroid; range and centroid are
  detached. Our extension applies ``scale`` and ``flip`` about the centroid too. The offset is whatever
  ``aug_norm`` carries: for :class:`~peclr_mm.selfsup.release_view.ReleaseHandView` views the release's own
  record (source-pixel jitter / output size), so this is the release's inverse exactly; for tracked views the
  content displacement in view pixels / view size.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch

UNDO_PARTS = ('rotate', 'translate', 'scale', 'flip')
DEFAULT_UNDO = ('rotate', 'translate')  # the paper's: what PeCLR undoes unless told otherwise
INVERSE_MODES = ('exact', 'official')
NORMALIZE_MODES = ('after', 'both')


def check_undo(undo: Sequence[str]) -> tuple:
    """Validate ``undo`` (a subset of :data:`UNDO_PARTS`); unknown names raise listing the valid ones."""
    undo = (undo,) if isinstance(undo, str) else tuple(undo)
    bad = [u for u in undo if u not in UNDO_PARTS]
    if bad:
        raise ValueError(f'unknown undo part(s) {bad}; valid: {list(UNDO_PARTS)}')
    return tuple(dict.fromkeys(undo))


def decompose_similarity(aug: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Split (B, 3, 3) ``G = T R S F`` into ``theta`` (B,), ``scale`` (B,), ``flip`` (B,) bool, ``shift`` (B, 2).

    ``shift`` is in the frame of ``aug`` (normalised view coordinates for the pipeline's ``aug_norm``).
    """
    L = aug[:, :2, :2]
    det = L[:, 0, 0] * L[:, 1, 1] - L[:, 0, 1] * L[:, 1, 0]
    flip = det < 0
    col0 = torch.where(flip[:, None], -L[:, :, 0], L[:, :, 0])  # first column of L @ F = s R
    return dict(theta=torch.atan2(col0[:, 1], col0[:, 0]), scale=det.abs().sqrt(), flip=flip, shift=aug[:, :2, 2])


def _rotation(theta: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (B, 2, 2)


def undo_exact(points: torch.Tensor, parts: Dict[str, torch.Tensor], undo: Sequence[str]) -> torch.Tensor:
    """points (B, P, 2) in view coordinates -> canonical ``F^-1 S^-1 R^-1 (p - t)`` for the chosen parts."""
    q = points
    if 'translate' in undo:
        q = q - parts['shift'][:, None, :]
    if 'rotate' in undo:
        q = q @ _rotation(parts['theta'])  # row vectors: (R^T q^T)^T = q R
    if 'scale' in undo:
        q = q / parts['scale'][:, None, None]
    if 'flip' in undo:
        sign = torch.where(parts['flip'], -1.0, 1.0).to(q.dtype)
        q = q * torch.stack([sign, torch.ones_like(sign)], -1)[:, None, :]
    return q


def undo_official(points: torch.Tensor, parts: Dict[str, torch.Tensor], undo: Sequence[str]) -> torch.Tensor:
    """The release's approximation: range-scaled shift, rotation (and our scale/flip) about the centroid."""
    q = points
    if 'translate' in undo:
        d = q.detach()
        span = d.amax(1) - d.amin(1)  # (B, 2) latent point range per axis
        q = q - (parts['shift'] * span)[:, None, :]
    if any(u in undo for u in ('rotate', 'scale', 'flip')):
        c = q.detach().mean(1, keepdim=True)
        q = undo_exact(q - c, parts, [u for u in undo if u != 'translate']) + c
    return q


def l2_normalize(z: torch.Tensor) -> torch.Tensor:
    """Row-wise L2 normalisation of (B, D), with mmpretrain ``SimCLR``'s epsilon."""
    return z / (torch.norm(z, p=2, dim=1, keepdim=True) + 1e-10)


def canonicalize(z: torch.Tensor, aug_norm: torch.Tensor | None, undo: Sequence[str], mode: str = 'exact',
                 normalize: str = 'after') -> torch.Tensor:
    """Projections -> canonical points (B, D / 2, 2), before the final normalisation.

    ``normalize='both'`` L2-normalises ``z`` before the undo (the release); ``'after'`` leaves that to the
    caller.

    Args:
        z (torch.Tensor): projections (B, D), D even, read as D / 2 points in normalised view coordinates.
        aug_norm (torch.Tensor, optional): the views' augmentations (B, 3, 3), nominal view -> view in
            normalised view coordinates (``aug_norm`` of :class:`~peclr_mm.selfsup.MultiViewTracked`). May
            be None when ``undo`` is empty.
        undo (Sequence[str]): parts to undo, a subset of :data:`UNDO_PARTS`.
        mode (str): ``'exact'`` or ``'official'``. Defaults to ``'exact'``.
        normalize (str): ``'after'`` or ``'both'``. Defaults to ``'after'``.
    """
    if z.size(1) % 2:
        raise ValueError(f'projection dim {z.size(1)} must be even to be read as 2-D points')
    if normalize == 'both':
        z = l2_normalize(z)
    points = z.reshape(z.size(0), -1, 2)
    if not undo:
        return points
    if aug_norm is None:
        raise KeyError(f'undoing {tuple(undo)} needs the views\' augmentation matrices (B, 3, 3)')
    # Decompose in float32 whatever the training precision; the parts are data (no gradient).
    parts = decompose_similarity(aug_norm.float())
    parts = {k: v.to(z.dtype) if v.is_floating_point() else v for k, v in parts.items()}
    return (undo_exact if mode == 'exact' else undo_official)(points, parts, undo)
