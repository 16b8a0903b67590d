"""LARS exclusion by module type: normalisation layers and biases, for any backbone.

mmpretrain's SimCLR/BYOL LARS configs exclude parameters by *name* (``custom_keys`` ``'bn'``, ``'bias'``,
``'downsample.1'``), which fits mmpretrain's ResNet only: ConvNeXt's ``LayerNorm2d`` layers are called
``norm``/``downsample_layers.N.0`` and ViT's ``LayerNorm`` layers ``ln1``/``ln2``, so none of their
normalisation weights is excluded. mmengine's ``norm_decay_mult``/``bias_decay_mult`` find them by type but
can only change the weight decay, not set LARS's ``lars_exclude``. :class:`LARSByTypeConstructor` does both.
"""
from __future__ import annotations

from typing import Dict, List, Set

import torch
from mmengine.optim import DefaultOptimWrapperConstructor
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn
from torch.nn.modules.batchnorm import _NormBase


def norm_types() -> tuple:
    """Module types whose parameters are normalisation parameters: BatchNorm/SyncBN/InstanceNorm
    (``_NormBase``), LayerNorm (and mmpretrain's ``LayerNorm2d``, a subclass), GroupNorm, RMSNorm,
    mmpretrain's ``GRN`` (ConvNeXt-V2)."""
    types = [_NormBase, nn.LayerNorm, nn.GroupNorm]
    if hasattr(nn, 'RMSNorm'):
        types.append(nn.RMSNorm)
    try:
        from mmpretrain.models.utils.norm import GRN
        types.append(GRN)
    except ImportError:  # pragma: no cover - older mmpretrain
        pass
    return tuple(types)


def excluded_parameter_names(model: nn.Module, exclude_flat: bool = True) -> Set[str]:
    """Names of ``model``'s parameters that LARS should neither adapt nor decay: every parameter of a
    normalisation layer (:func:`norm_types`), every bias, and with ``exclude_flat`` every other parameter
    with at most one dimension (per-channel scales such as ConvNeXt's layer-scale ``gamma``, initialised at
    1e-6, which LARS's trust ratio ``eta * |w| / |g|`` would keep near zero)."""
    norms = norm_types()
    names = set()
    for mod_name, module in model.named_modules():
        is_norm = isinstance(module, norms)
        for p_name, param in module.named_parameters(recurse=False):
            if is_norm or p_name == 'bias' or p_name.endswith('_bias') or (exclude_flat and param.ndim <= 1):
                names.add(f'{mod_name}.{p_name}' if mod_name else p_name)
    return names


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LARSByTypeConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, plus ``weight_decay=0`` and ``lars_exclude=True`` for the parameters
    of :func:`excluded_parameter_names` (normalisation layers and biases found by type, any backbone).

    Use it in place of name-based ``custom_keys``::

        optim_wrapper = dict(type='OptimWrapper', constructor='LARSByTypeConstructor',
                             optimizer=dict(type='LARS', lr=2.4, momentum=0.9, weight_decay=1e-6))

    ``paramwise_cfg`` takes mmengine's keys (``custom_keys`` still applies to the other parameters, e.g. a
    learning-rate multiplier by name) and ``exclude_flat`` (default True; see
    :func:`excluded_parameter_names`). For mmpretrain's ResNet the excluded set equals that of the
    ``'bn'``/``'bias'``/``'downsample.1'`` keys of mmpretrain's SimCLR config
    (``tests/test_other_backbones.py``). Every parameter gets its own group, as with ``custom_keys``.

    Args:
        optim_wrapper_cfg (dict): the optimizer wrapper config, as mmengine's default constructor.
        paramwise_cfg (dict, optional): mmengine's parameter-wise options, plus ``exclude_flat`` (bool):
            also exclude every other parameter with at most one dimension. Defaults to None.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        self.exclude_flat = bool(paramwise_cfg.pop('exclude_flat', True))
        # A non-empty paramwise_cfg makes mmengine build per-parameter groups through add_params.
        paramwise_cfg.setdefault('custom_keys', {})
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self, params: List[Dict], module: nn.Module, prefix: str = '',
                   is_dcn_module: int | float | None = None) -> None:
        if prefix:  # recursion from mmengine's add_params: plain behaviour
            return super().add_params(params, module, prefix, is_dcn_module)
        first = len(params)
        super().add_params(params, module, prefix, is_dcn_module)
        names = excluded_parameter_names(module, self.exclude_flat)
        excluded = {id(p) for n, p in module.named_parameters() if n in names}
        for group in params[first:]:
            if any(id(p) in excluded for p in group['params']):
                group['weight_decay'] = 0.0
                group['lars_exclude'] = True


def lars_excluded(optimizer: torch.optim.Optimizer, model: nn.Module) -> Dict[str, bool]:
    """Parameter name -> whether its group has ``lars_exclude`` and zero weight decay (for checks)."""
    name_of = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for group in optimizer.param_groups:
        flag = bool(group.get('lars_exclude', False)) and group.get('weight_decay', 0.0) == 0.0
        for p in group['params']:
            out[name_of[id(p)]] = flag
    return out
