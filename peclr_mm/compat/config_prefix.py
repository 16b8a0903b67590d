"""The ``peclr_mm::`` prefix of OpenMMLab configs: ``_base_ = ['peclr_mm::peclr/peclr_resnet50_...py']``.

mmengine 0.10.x resolves ``pkg::path`` bases only for the packages in its own table
(``mmengine.config.utils.MODULE2PACKAGE``) and offers no way to add one; it also gives every dict of such a base
the package's registry scope (``_scope_='pkg'``). peclr-mm is a plugin of two libraries and has no registry
scope of its own: its configs name their scope themselves (``default_scope`` ``'mmpretrain'`` or
``'mmpose'``), so a ``_scope_='peclr_mm'`` would make mmengine fall back to its root registries.

:func:`register_config_prefix` has to run before a config is parsed, i.e. before any ``custom_imports``:
:mod:`peclr_mm.mim` runs it right after ``mmengine.config.config`` is first imported. Standard library only.
"""
from __future__ import annotations

from peclr_mm.mim import PACKAGE, PREFIX, config_path

from ._patching import ABSENT, keep, replacement, to_replace, upstream_patch

TARGETS = ("mmengine.config.utils.MODULE2PACKAGE['peclr_mm']", 'mmengine.config.config.Config._get_cfg_path')


def needs_config_prefix() -> bool:
    """mmengine (0.10.x) has no registration of a ``pkg::`` package besides its own table: always."""
    return True


@upstream_patch(TARGETS, library='mmengine', versions='0.10.x (checked 0.10.7)',
                reason="configs' `pkg::` bases resolve only for mmengine's own table, and get the package's "
                       "`_scope_`", needed=needs_config_prefix)
def register_config_prefix() -> bool:
    """Teach ``mmengine.config`` the ``peclr_mm::`` prefix: ``Config._get_cfg_path('peclr_mm::REL', ...)``
    resolves to ``<peclr_mm>/.mim/configs/REL`` with no ``_scope_`` (as a local base), and ``peclr_mm`` joins
    ``MODULE2PACKAGE`` so that ``mmengine.hub.get_config('peclr_mm::...')`` works too.

    Upstream defect: mmengine 0.10.x (checked 0.10.7) resolves ``pkg::`` only for its own table and scopes
    such bases to the package. Idempotent; imports ``mmengine.config`` (run it where that is imported).

    Returns:
        bool: whether anything was changed now.
    """
    if not needs_config_prefix():
        return False
    import importlib

    found = to_replace(needs_config_prefix, TARGETS[1])  # imports mmengine.config.config, then .utils is there
    utils = importlib.import_module('mmengine.config.utils')
    changed = False
    if PACKAGE not in utils.MODULE2PACKAGE:
        keep(TARGETS[0], ABSENT)
        utils.MODULE2PACKAGE[PACKAGE] = PACKAGE
        changed = True
    if found is None:
        return changed
    config_cls, original = found  # original: the plain function (a staticmethod read through the class)

    def _get_cfg_path(cfg_path: str, filename: str):
        if cfg_path.startswith(PREFIX):
            return config_path(cfg_path), None  # no `_scope_`: the configs carry their own default_scope
        return original(cfg_path, filename)

    config_cls._get_cfg_path = staticmethod(replacement(_get_cfg_path, original, TARGETS[1]))
    return True
