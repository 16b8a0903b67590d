"""``peclr_mm::`` in OpenMMLab configs: ``_base_ = ['peclr_mm::peclr/peclr_resnet50_1xb128-accum16-amp-100e_...py']``.

mmengine resolves ``pkg::path`` bases only for the packages in its own table
(``mmengine.config.utils.MODULE2PACKAGE``), and it gives every dict of such a base the package's registry
scope (``_scope_='pkg'``). peclr-mm is a plugin of two libraries and has no registry scope of its own: its
configs name their scope themselves (``default_scope`` ``'mmpretrain'`` or ``'mmpose'``, from the upstream
default runtimes they inherit), so a ``_scope_='peclr_mm'`` would make mmengine fall back to its root
registries, where none of mmpretrain's or mmpose's modules are.

:func:`register` therefore (1) resolves ``peclr_mm::REL`` to ``<peclr_mm>/.mim/configs/REL`` without adding a
scope, as for a local base, and (2) adds ``peclr_mm`` to mmengine's table, so that
``mmengine.hub.get_config('peclr_mm::...')`` works too. It has to run before a config is parsed, i.e. before
any ``custom_imports`` of the config could; :func:`install` arranges that at interpreter start-up without
importing mmengine: it is called by a ``.pth`` line (``zz_peclr_mm_clone.pth`` of ``tools/setup_env.sh``,
``peclr_mm-mim.pth`` of a ``pip install .``) and patches ``mmengine.config`` right after it is first imported.

``<peclr_mm>/.mim`` holds ``configs`` and ``model-index.yml``: copies in an installed wheel (``setup.py``),
links to the repository's in a clone (``tools/setup_env.sh``). This module imports only the standard library.
"""
from __future__ import annotations

import importlib.machinery
import os.path as osp
import sys

PACKAGE = 'peclr_mm'
PREFIX = PACKAGE + '::'
_TARGET = 'mmengine.config.config'  # imports mmengine.config.utils first


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


def register() -> None:
    """Teach an imported ``mmengine.config`` the ``peclr_mm::`` prefix (idempotent)."""
    utils = sys.modules['mmengine.config.utils']
    utils.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    config_cls = sys.modules[_TARGET].Config
    original = config_cls._get_cfg_path  # the plain function (a staticmethod read through the class)
    if getattr(original, '__peclr_mm__', False):
        return

    def _get_cfg_path(cfg_path: str, filename: str):
        if cfg_path.startswith(PREFIX):
            return config_path(cfg_path), None  # no `_scope_`: the configs carry their own default_scope
        return original(cfg_path, filename)

    _get_cfg_path.__peclr_mm__ = True
    _get_cfg_path.__doc__ = original.__doc__
    config_cls._get_cfg_path = staticmethod(_get_cfg_path)


class _PatchingLoader:
    """Runs the wrapped loader, then :func:`register`. (No importlib.abc base: importing it costs ~20 ms at
    every interpreter start.)"""

    def __init__(self, loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        try:
            register()
        except Exception as err:  # never break mmengine's import
            print(f'peclr_mm: could not register the peclr_mm:: config prefix: {err}', file=sys.stderr)

    def __getattr__(self, name):  # get_source, get_filename, ... of the wrapped loader
        return getattr(self._loader, name)


class _Finder:
    """Finds ``mmengine.config.config`` like the path finder, with a loader that registers afterwards."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


def install() -> None:
    """Register now if ``mmengine.config`` is imported, else as soon as it is (cheap; no mmengine import)."""
    if _TARGET in sys.modules:
        register()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
