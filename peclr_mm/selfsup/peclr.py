"""PeCLR: pose-equivariant contrastive learning (Spurr et al., ICCV 2021) as an mmpretrain algorithm."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from .equivariance import DEFAULT_UNDO, INVERSE_MODES, NORMALIZE_MODES, canonicalize, check_undo, l2_normalize
from .gather import all_gather_with_grad


@MODELS.register_module()
class PeCLR(BaseSelfSupervisor):
    """PeCLR: pose-equivariant contrastive learning.

    Implementation of `Self-Supervised 3D Hand Pose Estimation from monocular RGB via Equivariant
    Contrastive Learning <https://arxiv.org/abs/2106.05953>`_ (Spurr et al., ICCV 2021).

    For ``n`` images with two views each (``inputs``: a list of 2 tensors (n, C, H, W)), the projection
    ``z = neck(backbone(x))`` (2n, D) is read as ``D / 2`` points (2n, D / 2, 2) in normalised view
    coordinates. The chosen parts of each view's geometric augmentation (the data samples'
    ``matrix_key``: (2, 3, 3), nominal view -> view in the same normalised view coordinates, as
    :class:`MultiViewTracked` stacks it) are undone on these points, the flattened
    points (2n, D) are L2-normalised and NT-Xent (``head``) runs on the batch gathered from all ranks
    (2N, D), with a correct backward (:func:`all_gather_with_grad`).

    ``normalize`` sets where the L2-normalisation sits:

    - ``'after'`` (the default for ``mode='exact'``): undo on the raw projection, then normalise. For a
      latent that encodes image positions this is exactly the inverse of the image transform.
    - ``'both'`` (the official code; the default for ``mode='official'``): normalise, undo, normalise
      again.

    ``mode='official', normalize='both'`` reproduces the official release (with
    ``undo=('rotate', 'translate')`` on :class:`~peclr_mm.selfsup.release_view.ReleaseHandView` views; the
    release's whole recipe: ``configs/peclr/*_1xb128-accum16-amp-100e_*``, docs/fidelity.md). With ``undo=()`` the loss equals mmpretrain's ``SimCLR`` on the
    same inputs and weights. The measurements behind the defaults are in ``docs/pretraining.md``.

    Args:
        backbone (dict): Config of the backbone.
        neck (dict): Config of the projection (``NonLinearNeck``); its output size must be even.
        head (dict): Config of the contrastive head (``ContrastiveHead``; paper: temperature 0.5).
        undo (Sequence[str]): Parts of the augmentation to undo, a subset of
            ``('rotate', 'translate', 'scale', 'flip')``. Defaults to
            :data:`~peclr_mm.selfsup.equivariance.DEFAULT_UNDO` (``('rotate', 'translate')``, the paper's);
            scale and flip are this project's extension.
        mode (str): Inverse, ``'exact'`` or ``'official'`` (see :mod:`peclr_mm.selfsup.equivariance`).
            Defaults to ``'exact'``.
        normalize (str, optional): ``'after'`` or ``'both'``. Defaults to None, the mode's default.
        matrix_key (str): Data-sample field with the (2, 3, 3) augmentation matrices in normalised view
            coordinates. Defaults to ``'aug_norm'``.
        pretrained (str, optional): As mmpretrain's ``BaseSelfSupervisor``. Defaults to None.
        data_preprocessor (dict, optional): Config of the data preprocessor. Defaults to None.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, undo: Sequence[str] = DEFAULT_UNDO,
                 mode: str = 'exact', normalize: str | None = None, matrix_key: str = 'aug_norm',
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

    def canonicalize(self, z: torch.Tensor, aug_norm: torch.Tensor | None) -> torch.Tensor:
        """Projections -> canonical points (B, D / 2, 2), before the final normalisation.

        Args:
            z (torch.Tensor): projections (B, D).
            aug_norm (torch.Tensor, optional): the views' augmentations (B, 3, 3) in normalised view
                coordinates; None only when nothing is undone.
        """
        if self.undo and aug_norm is None:
            raise KeyError(f'PeCLR needs "{self.matrix_key}" in the data samples to undo {self.undo}; '
                           'use MultiViewTracked + PackPeCLRInputs')
        return canonicalize(z, aug_norm, self.undo, self.mode, self.normalize)

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
        """The samples' (2, 3, 3) augmentation matrices stacked to (2n, 3, 3), checked (one finiteness test
        for the batch: one device sync per step, not one per sample)."""
        mats = [ds.get(self.matrix_key) for ds in data_samples]
        for i, m in enumerate(mats):
            if tuple(m.shape) != (2, 3, 3):
                raise ValueError(f'data sample {i}: "{self.matrix_key}" must be (2, 3, 3) (one matrix per view), '
                                 f'got {tuple(m.shape)}')
        stacked = torch.stack(mats)
        finite = torch.isfinite(stacked).flatten(1).all(1)
        if not finite.all():
            i = int((~finite).nonzero()[0])
            raise ValueError(f'data sample {i}: "{self.matrix_key}" is not finite (NaN or inf)')
        return stacked.flatten(0, 1)

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
        z = l2_normalize(self.canonicalize(z, aug).flatten(1))
        z = all_gather_with_grad(z)  # (2N, D)
        if z.size(0) < 4:
            raise ValueError(f'PeCLR needs at least 2 images in the (gathered) batch for negatives, got '
                             f'{z.size(0) // 2}')
        s = z @ z.t()
        pos_idx, neg_idx = self._pair_index(z.size(0) // 2, s.device)
        loss = self.head.loss(s.gather(1, pos_idx), s.gather(1, neg_idx))
        return dict(loss=loss)
