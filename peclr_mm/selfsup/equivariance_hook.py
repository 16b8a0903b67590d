"""``EquivarianceMonitorHook``: log whether the pretraining latent is equivariant, on a fixed probe batch."""
from __future__ import annotations

import random
from typing import Sequence

import numpy as np
import torch
from mmengine.dataset import default_collate
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from .diagnostics import BN_MODES, backbone_and_projection, effective_rank, pair_agreement
from .equivariance import DEFAULT_UNDO


@HOOKS.register_module()
class EquivarianceMonitorHook(Hook):
    """Every ``interval`` iterations (and before the first), measure on a fixed batch of ``num_samples``
    training images (two views each, drawn once from the training pipeline with ``seed``):

    - ``equivariance/<bn>_undone``, ``<bn>_raw``, ``<bn>_gap``: mean positive-pair cosine of the projections
      with the views' geometry undone, without, and their difference
      (:func:`~peclr_mm.selfsup.diagnostics.pair_agreement`), for each BatchNorm mode in ``bn_modes``
      (``eval``: running statistics, what a user gets; ``train``: batch statistics, what the loss sees);
    - ``equivariance/<bn>_feat_rank``: effective rank of the pooled backbone features of the 2n views.

    A positive ``eval_gap`` means the latent moves with the image; an invariant one (SimCLR) gives a
    negative gap set by the augmentation ranges. Values go to the visualizer (``vis_data/scalars.json``,
    at the iteration count) and to the log. The model is left exactly as it was (training flags and BN
    running statistics restored; numpy/python RNG states restored after drawing the probe batch).
    Works for any algorithm with ``backbone`` and ``neck`` (PeCLR, SimCLR, ...) fed by
    ``MultiViewTracked`` + ``PackPeCLRInputs``; the undo follows the model's own settings when it has them.

    Args:
        interval (int): iterations between measurements. Defaults to 100.
        num_samples (int): probe images (two views each). Defaults to 64.
        seed (int): seed of the probe images' choice and views. Defaults to 0.
        bn_modes (Sequence[str]): subset of ``('eval', 'train')``. Defaults to both.
        undo (Sequence[str], optional): parts to undo; defaults to the model's ``undo`` or
            :data:`~peclr_mm.selfsup.equivariance.DEFAULT_UNDO`.
        mode (str, optional): inverse mode; defaults to the model's ``mode`` or ``'exact'``.
        normalize (str, optional): normalisation placement; defaults to the model's ``normalize`` or
            ``'after'``.
        matrix_key (str): data-sample field of the (2, 3, 3) augmentation matrices in normalised view
            coordinates. Defaults to ``'aug_norm'``.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 100, num_samples: int = 64, seed: int = 0,
                 bn_modes: Sequence[str] = BN_MODES, undo: Sequence[str] | None = None,
                 mode: str | None = None, normalize: str | None = None,
                 matrix_key: str = 'aug_norm') -> None:
        if interval < 1 or num_samples < 2:
            raise ValueError(f'interval must be >= 1 and num_samples >= 2, got {interval} and {num_samples}')
        bad = [m for m in bn_modes if m not in BN_MODES]
        if bad or not bn_modes:
            raise ValueError(f'bn_modes must be a non-empty subset of {list(BN_MODES)}, got {list(bn_modes)}')
        self.interval, self.num_samples, self.seed = interval, num_samples, seed
        self.bn_modes = tuple(bn_modes)
        self.undo, self.mode, self.normalize, self.matrix_key = undo, mode, normalize, matrix_key
        self._batch = None

    def _draw_batch(self, dataset) -> dict:
        """A fixed probe batch: the same images and views at every measurement."""
        state = np.random.get_state(), random.getstate()
        try:
            rng = np.random.default_rng(self.seed)
            idx = rng.choice(len(dataset), size=min(self.num_samples, len(dataset)), replace=False)
            np.random.seed(self.seed)
            random.seed(self.seed)
            batch = default_collate([dataset[int(i)] for i in idx])
        finally:
            np.random.set_state(state[0])
            random.setstate(state[1])
        missing = [i for i, ds in enumerate(batch['data_samples']) if self.matrix_key not in ds]
        if missing or len(batch['inputs']) != 2:  # one (n, C, H, W) tensor per view
            raise KeyError(f'EquivarianceMonitorHook needs two views and "{self.matrix_key}" per sample '
                           '(MultiViewTracked(num_views=2) + PackPeCLRInputs in the training pipeline)')
        return batch

    def measure(self, model, batch: dict) -> dict:
        """The hook's scalars for ``model`` (unwrapped, with ``backbone``, ``neck`` and a preprocessor)."""
        data = model.data_preprocessor(batch, False)
        views, samples = data['inputs'], data['data_samples']
        aug = torch.stack([ds.get(self.matrix_key) for ds in samples]).to(views[0].device)
        undo = self.undo if self.undo is not None else getattr(model, 'undo', DEFAULT_UNDO)
        mode = self.mode or getattr(model, 'mode', 'exact')
        normalize = self.normalize or getattr(model, 'normalize', 'after')
        out = {}
        for bn in self.bn_modes:
            feats, z = backbone_and_projection(model, views, bn)
            agree = pair_agreement(z, aug, undo, mode, normalize)
            out.update({f'equivariance/{bn}_{k}': v for k, v in agree.items()})
            out[f'equivariance/{bn}_feat_rank'] = effective_rank(feats.flatten(0, 1))
        return out

    def _log(self, runner, step: int) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if self._batch is None:
            self._batch = self._draw_batch(runner.train_dataloader.dataset)
        scalars = self.measure(model, self._batch)
        runner.visualizer.add_scalars(scalars, step=step)
        runner.logger.info(f'Equivariance at iter {step}: ' + '  '.join(
            f'{k.split("/", 1)[1]}: {v:.4f}' for k, v in scalars.items()))

    def before_train(self, runner) -> None:
        self._log(runner, runner.iter)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner):
            self._log(runner, runner.iter + 1)
