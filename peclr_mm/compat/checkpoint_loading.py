"""mmengine's checkpoint saving and loading under torch's safe loading (``weights_only=True``).

The loaders and the allow-list are :mod:`peclr_mm.checkpoint`'s; this module only installs them in mmengine
0.10.x (checked 0.10.7):

- :func:`pickle_history_buffer_as_data`: ``HistoryBuffer.__getstate__`` stores the statistics *functions*,
  which pickle as ``getattr(HistoryBuffer, 'min')``, a call no safe loader may allow;
- :func:`route_checkpoint_schemes`: mmengine's scheme loaders call ``torch.load`` without a file name in their
  errors (torch's multi-paragraph message) and, below torch 2.6, without ``weights_only``;
- :func:`refuse_mismatched_pretrained`: ``init_cfg=dict(type='Pretrained')`` loads with ``strict=False`` and
  only logs tensors of another shape, so a model trains on partly random weights.

Standard library only at import.
"""
from __future__ import annotations

import importlib
from typing import Callable

from ._patching import keep, to_replace, unpatched, upstream_patch, wrap_upstream

GETSTATE_TARGET = 'mmengine.logging.history_buffer.HistoryBuffer.__getstate__'
SCHEMES_TARGET = 'mmengine.runner.checkpoint.CheckpointLoader._schemes'
PRETRAINED_TARGET = 'mmengine.model.weight_init.PretrainedInit.__call__'

# (mmengine's prefixes, loader of peclr_mm.checkpoint): each prefix that mmengine registers gets that loader.
SCHEME_LOADERS = (
    (('',), 'load_from_local_safe'),
    (('http://', 'https://'), 'load_from_http_safe'),
    (('modelzoo://', 'torchvision://'), 'load_from_torchvision_safe'),
    (('open-mmlab://', 'openmmlab://'), 'load_from_openmmlab_safe'),
    (('mmcls://',), 'load_from_mmcls_safe'),
    ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), 'load_from_ceph_safe'),
    (('pavi://',), 'load_from_pavi_safe'),
)


def _data_only(getstate: Callable) -> Callable:
    """A ``HistoryBuffer.__getstate__`` in place of mmengine's (``getstate``, unused) that pickles data only."""
    def __getstate__(self) -> dict:
        """Pickle a ``HistoryBuffer`` as data only: its ``__dict__`` without ``statistics_methods``.

        Those functions are class-level registrations that exist at load time anyway (mmengine's
        ``__setstate__`` tolerates their absence), so nothing is lost.
        """
        return {k: v for k, v in self.__dict__.items() if k != 'statistics_methods'}
    return __getstate__


def needs_history_buffer_as_data() -> bool:
    """mmengine's own ``HistoryBuffer.__getstate__`` stores ``statistics_methods`` (mmengine 0.10.x)."""
    cls = importlib.import_module('mmengine.logging.history_buffer').HistoryBuffer
    buffer = cls.__new__(cls)  # no __init__: it registers the statistics in a class-level dict
    return 'statistics_methods' in unpatched(cls.__getstate__)(buffer)


@upstream_patch((GETSTATE_TARGET,), library='mmengine', versions='0.10.x (checked 0.10.7)',
                reason="HistoryBuffer pickles getattr(HistoryBuffer, 'min'), refused by weights_only loading",
                needed=needs_history_buffer_as_data)
def pickle_history_buffer_as_data() -> bool:
    """``HistoryBuffer.__getstate__`` leaves out ``statistics_methods``.

    Upstream defect: mmengine 0.10.x pickles the buffer's statistics functions, as
    ``getattr(HistoryBuffer, 'min')``, so every checkpoint with a message hub is refused by torch's
    ``weights_only=True`` loading (torch >= 2.6's default). Idempotent; ``__wrapped__`` is mmengine's method.

    Returns:
        bool: whether the replacement was installed now.
    """
    return wrap_upstream(needs_history_buffer_as_data, GETSTATE_TARGET, _data_only)


def needs_safe_scheme_loaders() -> bool:
    """mmengine registers checkpoint schemes (mmengine 0.10.x): always."""
    return True


@upstream_patch((SCHEMES_TARGET,), library='mmengine', versions='0.10.x (checked 0.10.7)',
                reason="scheme loaders call torch.load: errors without the file name, no weights_only below "
                       "torch 2.6", needed=needs_safe_scheme_loaders)
def route_checkpoint_schemes() -> bool:
    """Every scheme mmengine's ``CheckpointLoader`` knows (local files as ``Runner.resume``/``load_from`` and
    ``init_cfg=dict(type='Pretrained')`` use them, ``torchvision://``, ``http(s)://``, ``open-mmlab://``,
    ``mmcls://``, ``s3://``, ``pavi://``) loads through :mod:`peclr_mm.checkpoint`: ``weights_only=True``, the
    allow-list, one-line errors naming the file, remote files in torch's hub cache.

    Upstream defect: mmengine 0.10.x's loaders call ``torch.load`` directly: a refused or corrupt file is
    torch's multi-paragraph message without the file name, and below torch 2.6 nothing is refused. Uses
    mmengine's ``register_scheme(..., force=True)`` (which rebuilds ``CheckpointLoader._schemes``);
    idempotent; ``peclr_mm.compat.original(SCHEMES_TARGET)`` is a copy of mmengine's table.

    Returns:
        bool: whether any loader was replaced now.
    """
    if (found := to_replace(needs_safe_scheme_loaders, SCHEMES_TARGET)) is None:
        return False
    import peclr_mm.checkpoint as safe
    loader_cls, schemes = found
    todo = []
    for prefixes, name in SCHEME_LOADERS:
        loader = getattr(safe, name)
        known = [p for p in prefixes if p in schemes and schemes[p] is not loader]
        if known:
            todo.append((known, loader))
    if not todo:
        return False
    keep(SCHEMES_TARGET, dict(schemes))
    for known, loader in todo:
        loader_cls.register_scheme(prefixes=known, loader=loader, force=True)
    return True


def _checked_pretrained_call(call: Callable) -> Callable:
    """mmengine's ``PretrainedInit.__call__`` (``call``) through
    :func:`peclr_mm.checkpoint.load_pretrained_checked`."""
    def __call__(self, module):
        from peclr_mm.checkpoint import load_pretrained_checked
        return load_pretrained_checked(call, self, module)
    return __call__  # replacement() gives it mmengine's docstring


def needs_pretrained_check() -> bool:
    """mmengine's ``PretrainedInit`` loads with ``strict=False`` and only logs mismatches (mmengine 0.10.x):
    always."""
    return True


@upstream_patch((PRETRAINED_TARGET,), library='mmengine', versions='0.10.x (checked 0.10.7)',
                reason="init_cfg Pretrained loads strict=False: tensors of another shape are only logged",
                needed=needs_pretrained_check)
def refuse_mismatched_pretrained() -> bool:
    """``init_cfg=dict(type='Pretrained')`` refuses checkpoints that do not fit the model
    (:class:`peclr_mm.checkpoint.CheckpointMismatchError`, one line naming the checkpoint file) when

    - a checkpoint tensor has another shape than the model's tensor of the same name: the first such key with
      both shapes and the count of them;
    - no model tensor is loaded at all (e.g. a wrong ``prefix``): example keys of both;
    - ``prefix`` matches no checkpoint key (mmengine's bare ``AssertionError``): the key groups found.

    Missing keys alone (a head when loading a backbone, DCN offsets into a plain ResNet) and unexpected keys
    (torchvision's ``fc``) load as before. ``Runner`` ``load_from``/``resume`` call ``load_state_dict``
    without ``PretrainedInit`` and are unchanged. The check is
    :func:`peclr_mm.checkpoint.load_pretrained_checked`.

    Upstream defect: mmengine 0.10.x's ``PretrainedInit.__call__`` loads with ``load_state_dict(strict=False)``,
    which logs tensors of another shape as "size mismatch" lines, skips them and goes on: a backbone of another
    width or depth trains on partly random weights. Idempotent; ``__wrapped__`` is mmengine's ``__call__``.

    Returns:
        bool: whether the replacement was installed now.
    """
    return wrap_upstream(needs_pretrained_check, PRETRAINED_TARGET, _checked_pretrained_call)
