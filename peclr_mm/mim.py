"""``peclr_mm::`` in OpenMMLab configs, and the start-up hooks that have to act before a config is parsed.

``_base_ = ['peclr_mm::peclr/peclr_resnet50_1xb128-accum16-amp-100e_...py']`` resolves to
``<peclr_mm>/.mim/configs/...`` (:func:`config_path`) once
:func:`peclr_mm.compat.config_prefix.register_config_prefix` has taught mmengine the prefix. That has to happen
before a config is parsed, i.e. before any ``custom_imports`` of the config could; :func:`install` arranges it
at interpreter start-up without importing mmengine: it is called by a ``.pth`` line
(``zz_peclr_mm_clone.pth`` of ``tools/setup_env.sh``, ``peclr_mm-mim.pth`` of ``pip install .`` and
``pip install -e .``, setup.py) and runs the hook right after ``mmengine.config.config`` is first imported.

For the same reason :func:`peclr_mm.compat.inferencer_routing.route_pose3d_inferencers` runs right after mmpose's
``mmpose_inferencer`` module is first imported: ``MMPoseInferencer(pose3d=CONFIG)`` picks its inner inferencer
before the config's ``custom_imports`` import :mod:`peclr_mm.pose`; nothing of peclr_mm's pose half is imported
until an inferencer is built.

The hooks are :mod:`peclr_mm.compat`'s functions (:data:`_HOOKS`), imported when their upstream module is.
``<peclr_mm>/.mim`` holds ``configs`` and ``model-index.yml`` (and ``tools`` after a pip install): copies in an
installed wheel, links to the repository's after ``pip install -e .`` (``setup.py``) and in a clone
(``tools/setup_env.sh``). This module imports only the standard library.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import os.path as osp
import sys

PACKAGE = 'peclr_mm'
PREFIX = PACKAGE + '::'
_TARGET = 'mmengine.config.config'  # imports mmengine.config.utils first
_INFERENCER = 'mmpose.apis.inferencers.mmpose_inferencer'


def mim_dir() -> str:
    """``<peclr_mm>/.mim``: the configs and model index shipped with the package."""
    return osp.join(osp.dirname(osp.abspath(__file__)), '.mim')


def config_path(cfg_path: str) -> str:
    """``'peclr_mm::peclr/x.py'`` (or ``'peclr/x.py'``) -> absolute path of that shipped config."""
    rel = cfg_path[len(PREFIX):] if cfg_path.startswith(PREFIX) else cfg_path
    configs = osp.join(mim_dir(), 'configs')
    path = osp.join(configs, rel)
    if not osp.isfile(path):
        if not osp.isdir(configs):
            raise FileNotFoundError(
                f'{PREFIX}{rel}: {configs} is missing; install peclr-mm (`pip install .`) or, in a clone, run '
                '`make install` (tools/setup_env.sh links the configs there)')
        raise FileNotFoundError(f'{PREFIX}{rel}: no such config in {configs}')
    return path


def _compat_hook(submodule: str, function: str):
    """A hook that imports ``peclr_mm.compat.<submodule>`` (standard library only) and calls ``function``."""
    def hook() -> None:
        getattr(importlib.import_module(f'peclr_mm.compat.{submodule}'), function)()
    hook.__qualname__ = hook.__name__ = f'{submodule}.{function}'
    return hook


# upstream module -> (hook run right after its first import, what it does)
_HOOKS = {_TARGET: (_compat_hook('config_prefix', 'register_config_prefix'), 'register the peclr_mm:: config prefix'),
          _INFERENCER: (_compat_hook('inferencer_routing', 'route_pose3d_inferencers'),
                        "route MMPoseInferencer(pose3d=...) of 2.5-D configs")}


class _PatchingLoader:
    """Runs the wrapped loader, then the module's hook (:data:`_HOOKS`). (No importlib.abc base: importing it
    costs ~20 ms at every interpreter start.)"""

    def __init__(self, loader, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        hook, what = _HOOKS[self._name]
        try:
            hook()
        except Exception as err:  # never break the upstream import
            print(f'peclr_mm: could not {what}: {err}', file=sys.stderr)

    def __getattr__(self, name):  # get_source, get_filename, ... of the wrapped loader
        return getattr(self._loader, name)


class _Finder:
    """Finds the modules of :data:`_HOOKS` like the path finder, with a loader that runs the hook afterwards."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _HOOKS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, fullname)
        return spec


def install() -> None:
    """Run each hook now if its module is imported, else as soon as it is (cheap; no upstream import)."""
    for name, (hook, _) in _HOOKS.items():
        if name in sys.modules:
            hook()
    if not all(name in sys.modules for name in _HOOKS) and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
