"""Is the latent equivariant? Positive-pair agreement with and without undoing the views' geometry.

For two views of each of ``n`` images, with projections ``z`` (n, 2, D) and augmentations ``aug_norm``
(n, 2, 3, 3) in normalised view coordinates, :func:`pair_agreement` reports the mean cosine between the two views'
canonical points (the undo of :func:`~peclr_mm.selfsup.equivariance.canonicalize`) and between the raw
projections. ``gap = undone - raw`` is positive when undoing the geometry makes the views agree more, i.e.
the latent moves with the image (equivariance); an invariant latent (the same z for both views) has
``raw = 1`` and a negative gap, whose size depends only on the augmentation ranges.

:func:`backbone_and_projection` runs a backbone + neck with BatchNorm in running-statistics (``eval``) or
batch-statistics (``train``) mode without changing any running statistic, and :func:`effective_rank`
measures the spread of pooled features (collapse indicator, Roy & Vetterli 2007).
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Dict, Iterator, Sequence, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from peclr_mm.features import pool_features

from .equivariance import DEFAULT_UNDO, canonicalize, l2_normalize

BN_MODES = ('eval', 'train')


@contextmanager
def bn_mode(model: nn.Module, mode: str) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode, with its BatchNorm layers in ``mode`` (``'eval'``: running statistics,
    ``'train'``: batch statistics); training flags and every BatchNorm buffer are restored on exit."""
    if mode not in BN_MODES:
        raise ValueError(f'unknown BN mode {mode!r}; valid: {list(BN_MODES)}')
    flags = {m: m.training for m in model.modules()}
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    buffers = [copy.deepcopy(dict(m.named_buffers(recurse=False))) for m in bns]
    model.eval()
    for m in bns:
        m.train(mode == 'train')
    try:
        yield model
    finally:
        for m, saved in zip(bns, buffers):
            for name, value in saved.items():
                getattr(m, name).copy_(value)
        for m, flag in flags.items():
            m.training = flag


@torch.no_grad()
def backbone_and_projection(model: nn.Module, views: Sequence[torch.Tensor], mode: str = 'eval'
                            ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Views (V tensors (n, C, H, W), preprocessed) through ``model.backbone`` and ``model.neck`` in one
    sample-major batch as in training -> pooled features (n, V, C) and projections (n, V, D)."""
    n, v = views[0].size(0), len(views)
    x = torch.stack(list(views), 1).flatten(0, 1)
    with bn_mode(model, mode):
        feats = model.backbone(x)
        z = model.neck(feats)[0]
    return pool_features(feats).view(n, v, -1), z.view(n, v, -1)


@torch.no_grad()
def pair_agreement(z: torch.Tensor, aug_norm: torch.Tensor, undo: Sequence[str] = DEFAULT_UNDO,
                   mode: str = 'exact', normalize: str = 'after') -> Dict[str, float]:
    """Mean positive-pair cosine of the projections with and without the undo.

    Args:
        z (torch.Tensor): projections (n, 2, D) of two views of each of n images.
        aug_norm (torch.Tensor): the views' augmentations (n, 2, 3, 3) in normalised view coordinates.
        undo (Sequence[str]): parts to undo. Defaults to :data:`~peclr_mm.selfsup.equivariance.DEFAULT_UNDO`.
        mode (str): ``'exact'`` or ``'official'``. Defaults to ``'exact'``.
        normalize (str): ``'after'`` or ``'both'``. Defaults to ``'after'``.

    Returns:
        dict: ``undone``, ``raw`` and ``gap = undone - raw``.
    """
    if z.dim() != 3 or z.size(1) != 2 or aug_norm.shape != (z.size(0), 2, 3, 3):
        raise ValueError(f'expected z (n, 2, D) and aug_norm (n, 2, 3, 3), got {tuple(z.shape)} and '
                         f'{tuple(aug_norm.shape)}')
    flat, aug = z.flatten(0, 1).float(), aug_norm.flatten(0, 1).float()
    out = {}
    for key, parts in (('undone', tuple(undo)), ('raw', ())):
        c = l2_normalize(canonicalize(flat, aug, parts, mode, normalize).flatten(1)).view(z.size(0), 2, -1)
        out[key] = float((c[:, 0] * c[:, 1]).sum(-1).mean())
    out['gap'] = out['undone'] - out['raw']
    return out


@torch.no_grad()
def effective_rank(feats: torch.Tensor) -> float:
    """``exp`` of the entropy of the normalised singular values of centred features (N, C): from 1 (all
    features on a line, collapse) to ``min(N, C)`` (isotropic)."""
    x = feats.double() - feats.double().mean(0, keepdim=True)
    s = torch.linalg.svdvals(x)
    if s.sum() <= 0:
        return 1.0
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))
