"""The PeCLR release's optimisation: Adam inside LARS, its weight-decay groups and its learning-rate schedule.

The release (``src/models/base_model.py``, ``configure_optimizers``) builds ``torch.optim.Adam`` with
lr ``1e-4 * sqrt(batch * accumulation)``, weight decay 1e-6 for every parameter whose name contains neither
``bias`` nor ``bn`` (0 for those), wraps it in pytorch-lightning-bolts 0.2.2 ``LARSWrapper`` (eta 0.02,
clip, eps 1e-8) and steps ``LinearWarmupCosineAnnealingLR`` (warm-up from 0, cosine to 0) once per optimizer
step. Three registered pieces reproduce it in mmengine:

- :class:`LARSAdam`: the optimizer (Adam whose gradients LARS rescales first);
- :class:`ReleaseWeightDecayConstructor`: the two parameter groups, by the release's names;
- :class:`LinearWarmupCosineAnnealingLR`: the schedule, counted in optimizer steps under accumulation.
"""
from __future__ import annotations

import math
import re
from typing import Dict, List

import torch
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS
from torch import nn


@OPTIMIZERS.register_module()
class LARSAdam(torch.optim.Adam):
    """Adam wrapped in LARS, step for step as pytorch-lightning-bolts 0.2.2 ``LARSWrapper(Adam)``.

    Before each Adam step, for every parameter ``p`` with a gradient ``g`` (``w`` its group's weight decay,
    ``lr`` its group's learning rate): if ``|p| != 0`` and ``|g| != 0``,
    ``r = eta * |p| / (|g| + w * |p| + lars_eps)``, with ``clip`` ``r = min(r / lr, 1)``, and
    ``g <- (g + w * p) * r``; otherwise ``g`` is left as it is. Adam then steps with weight decay 0 (the
    decay went into ``g``). Norms are taken of the (unscaled) fp32 gradients, so it works under
    mmengine's ``AmpOptimWrapper`` as under the release's native AMP.

    Args:
        params: parameters or parameter groups (each group's ``weight_decay`` is the LARS decay).
        lr (float): Adam's learning rate. Release: ``1e-4 * sqrt(128 * 16)``.
        betas (tuple): Adam's betas. Defaults to torch's ``(0.9, 0.999)``.
        eps (float): Adam's epsilon. Defaults to 1e-8.
        weight_decay (float): default decay for groups without one. Defaults to 0.
        eta (float): LARS trust coefficient. Defaults to 0.02 (bolts).
        clip (bool): clip the LARS rate at the learning rate. Defaults to True (bolts).
        lars_eps (float): LARS stability term. Defaults to 1e-8 (bolts).
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, eta: float = 0.02, clip: bool = True, lars_eps: float = 1e-8) -> None:
        if not eta > 0 or not lars_eps >= 0:
            raise ValueError(f'LARSAdam needs eta > 0 and lars_eps >= 0, got eta={eta}, lars_eps={lars_eps}')
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        self.eta, self.clip, self.lars_eps = float(eta), bool(clip), float(lars_eps)

    @torch.no_grad()
    def lars_(self) -> None:
        """Rescale every gradient in place by its LARS rate (no device synchronisation)."""
        for group in self.param_groups:
            wd, lr = group['weight_decay'], group['lr']
            for p in group['params']:
                if p.grad is None:
                    continue
                g = p.grad
                p_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(g)
                rate = self.eta * p_norm / (g_norm + p_norm * wd + self.lars_eps)
                if self.clip:  # lr 0 (the first warm-up step) gives inf / 0 -> clipped to 1, as in bolts
                    rate = torch.clamp(rate / lr if lr else torch.full_like(rate, math.inf), max=1.0)
                adapt = (p_norm != 0) & (g_norm != 0)
                g.copy_(torch.where(adapt, (g + wd * p) * rate, g))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.lars_()
        decays = [group['weight_decay'] for group in self.param_groups]
        for group in self.param_groups:
            group['weight_decay'] = 0.0
        try:
            super().step()
        finally:
            for group, wd in zip(self.param_groups, decays):
                group['weight_decay'] = wd
        return loss


# mmpretrain ResNet / NonLinearNeck parameter names -> the release's (``encoder.features`` is torchvision's
# ResNet in an nn.Sequential: conv1, bn1, relu, maxpool, layer1..4; ``projection_head`` is Linear, BN, ReLU,
# Linear).
_RELEASE_PREFIXES = (
    (re.compile(r'^backbone\.conv1\.'), 'encoder.features.0.'),
    (re.compile(r'^backbone\.bn1\.'), 'encoder.features.1.'),
    (re.compile(r'^backbone\.layer([1-4])\.'), lambda m: f'encoder.features.{int(m.group(1)) + 3}.'),
    (re.compile(r'^neck\.fc0\.'), 'projection_head.0.'),
    (re.compile(r'^neck\.bn0\.'), 'projection_head.1.'),
    (re.compile(r'^neck\.fc1\.'), 'projection_head.3.'),
)
RELEASE_NO_DECAY_KEYS = ('bias', 'bn')


def release_name(name: str) -> str:
    """The release's name of one of our parameters (ResNet backbone, 2-layer ``NonLinearNeck``); other
    names are returned unchanged."""
    for pattern, repl in _RELEASE_PREFIXES:
        if pattern.match(name):
            return pattern.sub(repl, name, count=1)
    return name


def release_no_decay(name: str) -> bool:
    """Whether the release gives this parameter (our name) weight decay 0: its release name contains
    ``bias`` or ``bn`` (``exclude_from_wt_decay``). So residual-block BatchNorms and biases are not decayed,
    while the stem BatchNorm, the downsample BatchNorms and the projection's BatchNorm weight are."""
    rel = release_name(name)
    return any(key in rel for key in RELEASE_NO_DECAY_KEYS)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ReleaseWeightDecayConstructor(DefaultOptimWrapperConstructor):
    """Two parameter groups as the release: ``[decayed (weight_decay), not decayed (0)]``, split by
    :func:`release_no_decay` on the model's trainable parameters (``requires_grad``).

    Use with :class:`LARSAdam`::

        optim_wrapper = dict(type='AmpOptimWrapper', constructor='ReleaseWeightDecayConstructor',
                             optimizer=dict(type='LARSAdam', lr=1e-4 * 2048 ** 0.5, weight_decay=1e-6))

    Args:
        optim_wrapper_cfg (dict): the optimizer wrapper config, as mmengine's default constructor.
        paramwise_cfg (dict, optional): not supported (the release has no per-parameter options); must be
            None or empty.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if paramwise_cfg:
            raise ValueError(f'ReleaseWeightDecayConstructor takes no paramwise_cfg, got {paramwise_cfg}')
        super().__init__(optim_wrapper_cfg, None)

    def add_params(self, params: List[Dict], module: nn.Module, prefix: str = '', is_dcn_module=None) -> None:
        decay, no_decay = [], []
        for name, p in module.named_parameters():
            if p.requires_grad:
                (no_decay if release_no_decay(name) else decay).append(p)
        params.append(dict(params=decay, weight_decay=self.base_wd))
        params.append(dict(params=no_decay, weight_decay=0.0))

    def __call__(self, model: nn.Module):
        if hasattr(model, 'module'):
            model = model.module
        # The groups are always the release's (mmengine's default builds them only with a paramwise_cfg).
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        optimizer_cfg = self.optimizer_cfg.copy()
        params: List[Dict] = []
        self.add_params(params, model)
        optimizer_cfg['params'] = params
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=OPTIMIZERS.build(optimizer_cfg)))


@PARAM_SCHEDULERS.register_module()
class LinearWarmupCosineAnnealingLR(LRSchedulerMixin, _ParamScheduler):
    """pytorch-lightning-bolts 0.2.2 ``LinearWarmupCosineAnnealingLR``, counted in optimizer steps.

    At optimizer step ``k`` (``k = iteration // accumulative_counts``; mmengine steps schedulers every
    iteration, the release every optimizer step) the learning rate is ``start + k (base - start) / (W - 1)``
    for ``k < W``, then ``eta_min + (base - eta_min) (1 + cos(pi (k - W) / (M - W))) / 2``, with ``W``
    ``warmup_steps`` and ``M`` ``max_steps``. In an epoch-based config set ``warmup_epochs``/``max_epochs``
    with ``convert_to_iter_based=True``: as the release, ``W = warmup_epochs * epoch_length // accumulation``
    and ``M = max_epochs * epoch_length // accumulation`` (``epoch_length``: iterations per epoch).

    Args:
        optimizer: the optimizer or optimizer wrapper.
        warmup_steps (int): ``W``, optimizer steps of linear warm-up (>= 2).
        max_steps (int): ``M``, optimizer steps to the end of the cosine (> ``W``).
        accumulative_counts (int): iterations per optimizer step. Defaults to 1.
        warmup_start_lr (float): learning rate at step 0. Defaults to 0 (bolts).
        eta_min (float): final learning rate. Defaults to 0 (bolts).
        begin, end, last_step, by_epoch, verbose: as mmengine's schedulers (iteration-based here).
    """

    def __init__(self, optimizer, warmup_steps: int, max_steps: int, accumulative_counts: int = 1,
                 warmup_start_lr: float = 0.0, eta_min: float = 0.0, begin: int = 0, end: int = int(1e9),
                 last_step: int = -1, by_epoch: bool = False, verbose: bool = False) -> None:
        if by_epoch:
            raise ValueError('LinearWarmupCosineAnnealingLR steps per iteration: use by_epoch=False, or '
                             'warmup_epochs/max_epochs with convert_to_iter_based=True')
        if not (2 <= warmup_steps < max_steps) or accumulative_counts < 1:
            raise ValueError(f'need 2 <= warmup_steps < max_steps and accumulative_counts >= 1, got '
                             f'{warmup_steps}, {max_steps}, {accumulative_counts}')
        self.warmup_steps, self.max_steps = int(warmup_steps), int(max_steps)
        self.accumulative_counts = int(accumulative_counts)
        self.warmup_start_lr, self.eta_min = float(warmup_start_lr), float(eta_min)
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step, by_epoch=False,
                         verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, warmup_epochs: float, max_epochs: float, accumulative_counts: int = 1,
                              begin=0, end=int(1e9), by_epoch=True, epoch_length=None, **kwargs):
        """The release's step counts from epochs: ``epochs * epoch_length // accumulative_counts``."""
        if not epoch_length or epoch_length <= 0:
            raise ValueError(f'epoch_length must be a positive integer, got {epoch_length}')
        return cls(*args, warmup_steps=int(warmup_epochs * epoch_length) // accumulative_counts,
                   max_steps=int(max_epochs * epoch_length) // accumulative_counts,
                   accumulative_counts=accumulative_counts, begin=int(begin * epoch_length),
                   end=int(end * epoch_length) if end < 1e9 else end, by_epoch=False, **kwargs)

    def lr_at(self, base: float, step: int) -> float:
        """The learning rate at optimizer step ``step`` for base rate ``base``."""
        W, M = self.warmup_steps, self.max_steps
        if step < W:
            return self.warmup_start_lr + step * (base - self.warmup_start_lr) / (W - 1)
        return self.eta_min + 0.5 * (base - self.eta_min) * (1 + math.cos(math.pi * (step - W) / (M - W)))

    def _get_value(self) -> List[float]:
        step = (self.last_step - self.begin) // self.accumulative_counts
        return [self.lr_at(base, step) for base in self.base_values]
