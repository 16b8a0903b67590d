"""Every change peclr-mm makes to its upstream libraries (mmengine, mmcv, mmpretrain, mmpose, mmdet,
matplotlib), in one table: :data:`PATCHES`. docs/compat.md has it with the tests.

Each patch is a named function of one submodule per upstream concern (:mod:`.config_prefix`,
:mod:`.inferencer_routing`, :mod:`.cpu_distributed`, :mod:`.checkpoint_loading`, :mod:`.visualization`),
decorated with its record, ``@upstream_patch(targets, library=..., versions=..., reason=..., needed=...)``
(:mod:`._patching`); :data:`PATCHES` holds the records in the order the submodules are imported below and
define them. A patch is idempotent, returns whether it changed anything, does nothing where its ``needed()`` says the running
versions do not need it, and keeps what it replaced reachable: a replacement function's ``__wrapped__``, and
:func:`original` for every target. The halves (:mod:`peclr_mm.selfsup`, :mod:`peclr_mm.pose`) call
:func:`apply`; :mod:`peclr_mm.mim` runs the config-prefix and inferencer-routing patches right after their
upstream modules are first imported (they must act before a config's ``custom_imports``). No other module of
peclr_mm or tools/ assigns to an upstream module or class (``tests/test_compat.py`` checks both ways).

This package imports only the standard library: each patch imports its upstream module when it runs.

To drop a patch once upstream no longer needs it (its test in ``tests/test_compat.py`` fails): delete its
function with its ``@upstream_patch`` record, its row in docs/compat.md and its test.
"""
from __future__ import annotations

import sys

# isort: off
# Importing a submodule registers its patches (`_patching.upstream_patch`): this order is PATCHES' order.
from . import config_prefix, inferencer_routing  # noqa: F401
from . import cpu_distributed, checkpoint_loading, visualization  # noqa: F401
# isort: on
from ._patching import ABSENT, REGISTRY, Patch, original

__all__ = ['ABSENT', 'PATCHES', 'Patch', 'apply', 'original']

PATCHES = tuple(REGISTRY.values())


def apply(concern: str | None = None) -> list:
    """Install the patches (of one ``concern``, a submodule name, when given) whose library is imported;
    each does nothing where its upstream does not need it. Idempotent.

    Returns:
        list[Patch]: the patches that changed something now.
    """
    done = []
    for patch in PATCHES:
        if concern not in (None, patch.concern) or patch.library not in sys.modules:
            continue  # e.g. peclr_mm.selfsup never imports mmpose
        if patch.function():
            done.append(patch)
    return done


def needed_targets() -> set:
    """The targets of the patches the running versions need (imports their libraries)."""
    return {t for patch in PATCHES if patch.needed() for t in patch.targets}
