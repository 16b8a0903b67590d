"""PeCLR: pose-equivariant contrastive learning (Spurr et al., ICCV 2021) as an mmpretrain algorithm."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from .equivariance import INVERSE_MODES, NORMALIZE_MODES, canonicalize, check_undo, l2_normalize
from .gather import all_gather_with_grad


@MODELS.register_module()
class PeCLR(BaseSelfSupervisor):
    """PeCLR: NT-Xent on projections made equivariant to each view's geometric augmentation.

    For two views of each of ``n`` images (``inputs``: list of 2 tensors (n, C, H, W)):
    ``z = neck(backbone(x))`` (2n, D) is read as ``P = D / 2`` points (2n, P, 2) in normalised view
    coordinates; the chosen parts of each view's augmentation (``aug_matrix`` of the data samples,
    (2, 3, 3) nominal view -> view pixels) are undone on the points; the flattened points are
    L2-normalised; NT-Xent (``head``: mmpretrain's ``ContrastiveHead``) runs on the batch gathered from
    all ranks with a correct backward (:func:`all_gather_with_grad`).

    Where the L2-normalisation sits (``normalize``):

    - ``'after'`` (default for ``mode='exact'``): undo on the raw projection, then normalise. The inverse
      is then exactly the inverse of the image transform for a latent that encodes image positions.
    - ``'both'`` (the official code, default for ``mode='official'``): normalise, undo, normalise again.

    Default ``mode='exact', normalize='after'``. Evidence: the project's toy probe (DEVELOPERS.md; 2-D stick
    hands, 64 px, 1k pretraining steps, 500 labels) gave keypoint errors 0.836 px for exact-on-raw-then-
    normalise, 0.858 for the official mode and 0.987 for normalise-first-then-exact (SimCLR 0.865); and
    ``bench/bench_selfsup_inverse.py`` shows that only exact/after maps the latent of a position-encoding
    encoder (soft-argmax of markers; real pipeline, +-45 deg, 0-15 px, margin 0.9-1.5) to the same canonical
    vector for two views: positive-pair ``1 - cos`` 0.0007 (exact/after) vs 0.59 (exact/both), 0.66
    (official/both), 0.81 (nothing undone); normalising *after* also cancels the scale left un-undone.
    ``mode='official', normalize='both'`` reproduces the release (``undo=('rotate', 'translate')``).
    With ``undo=()`` the loss equals mmpretrain's ``SimCLR`` on the same inputs and weights.

    Args:
        backbone (dict): backbone config. neck (dict): projection (``NonLinearNeck``). head (dict):
            ``ContrastiveHead`` (paper: temperature 0.5).
        undo (Sequence[str]): parts to undo, subset of ``('rotate', 'translate', 'scale', 'flip')``.
            Paper: ``('rotate', 'translate')``; scale and flip are our extension.
        mode (str): ``'exact'`` or ``'official'`` (see :mod:`peclr_mm.selfsup.equivariance`).
        normalize (str, optional): ``'after'`` or ``'both'``; None picks the mode's default.
        matrix_key (str): data-sample field with the (V, 3, 3) augmentation matrices.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, undo: Sequence[str] = ('rotate', 'translate'),
                 mode: str = 'exact', normalize: str | None = None, matrix_key: str = 'aug_matrix',
                 pretrained: str | None = None, data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.undo = check_undo(undo)
        if mode not in INVERSE_MODES:
            raise ValueError(f'unknown mode {mode!r}; valid: {list(INVERSE_MODES)}')
        normalize = normalize or ('after' if mode == 'exact' else 'both')
        if normalize not in NORMALIZE_MODES:
            raise ValueError(f'unknown normalize {normalize!r}; valid: {list(NORMALIZE_MODES)}')
        self.mode, self.normalize, self.matrix_key = mode, normalize, matrix_key
        linears = [m for m in self.neck.modules() if isinstance(m, nn.Linear)]
        if linears and linears[-1].out_features % 2:
            raise ValueError(f'PeCLR reads the projection as 2-D points: the neck\'s output size '
                             f'{linears[-1].out_features} must be even')
        self._index_cache: Dict[Tuple[int, torch.device], Tuple[torch.Tensor, torch.Tensor]] = {}

    def canonicalize(self, z: torch.Tensor, aug_px: torch.Tensor | None, img_hw: Sequence[int]) -> torch.Tensor:
        """Projections z (B, D) of views of size ``img_hw`` with augmentations ``aug_px`` (B, 3, 3, view
        pixels) -> canonical points (B, D / 2, 2), before the final normalisation."""
        if self.undo and aug_px is None:
            raise KeyError(f'PeCLR needs "{self.matrix_key}" in the data samples to undo {self.undo}; '
                           'use MultiViewTracked + PackPeCLRInputs')
        return canonicalize(z, aug_px, img_hw, self.undo, self.mode, self.normalize)

    def _pair_index(self, n: int, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """Row-wise column indices of the positive (2n, 1) and negatives (2n, 2n - 2), sample-major order."""
        key = (n, device)
        if key not in self._index_cache:
            rows = torch.arange(2 * n, device=device)
            pos = (rows ^ 1)[:, None]
            cols = rows[None].expand(2 * n, -1)
            keep = (cols != rows[:, None]) & (cols != pos)
            self._index_cache = {key: (pos, cols[keep].view(2 * n, 2 * n - 2))}
        return self._index_cache[key]

    def _matrices(self, data_samples: List[DataSample]) -> torch.Tensor:
        """The samples' (2, 3, 3) augmentation matrices stacked to (2n, 3, 3), checked."""
        for i, ds in enumerate(data_samples):
            m = ds.get(self.matrix_key)
            if tuple(m.shape) != (2, 3, 3):
                raise ValueError(f'data sample {i}: "{self.matrix_key}" must be (2, 3, 3) (one matrix per view), '
                                 f'got {tuple(m.shape)}')
            if not torch.isfinite(m).all():
                raise ValueError(f'data sample {i}: "{self.matrix_key}" is not finite (NaN or inf)')
        return torch.stack([ds.get(self.matrix_key) for ds in data_samples]).flatten(0, 1)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample], **kwargs) -> Dict[str, torch.Tensor]:
        """inputs: 2 views (n, C, H, W); data_samples: n samples with ``matrix_key`` (2, 3, 3)."""
        if not isinstance(inputs, list | tuple):
            raise ValueError(f'PeCLR needs a list of 2 views, each (n, C, H, W); got a '
                             f'{type(inputs).__name__} of shape {tuple(getattr(inputs, "shape", ()))}')
        if len(inputs) != 2:
            raise ValueError(f'PeCLR needs exactly 2 views per image, got {len(inputs)}')
        x = torch.stack(list(inputs), 1).flatten(0, 1)  # (2n, C, H, W): sample-major like SimCLR
        aug = None
        if self.undo and data_samples and all(self.matrix_key in ds for ds in data_samples):
            aug = self._matrices(data_samples)  # (2n, 3, 3)
        z = self.neck(self.backbone(x))[0]
        z = l2_normalize(self.canonicalize(z, aug, x.shape[-2:]).flatten(1))
        z = all_gather_with_grad(z)  # (2N, D)
        if z.size(0) < 4:
            raise ValueError(f'PeCLR needs at least 2 images in the (gathered) batch for negatives, got '
                             f'{z.size(0) // 2}')
        s = z @ z.t()
        pos_idx, neg_idx = self._pair_index(z.size(0) // 2, s.device)
        loss = self.head.loss(s.gather(1, pos_idx), s.gather(1, neg_idx))
        return dict(loss=loss)
