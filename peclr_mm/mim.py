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
``peclr_mm-mim.pth`` of ``pip install .`` and ``pip install -e .``, setup.py) and patches ``mmengine.config`` right after it is first imported.

For the same reason :func:`route_inferencer` runs right after mmpose's ``mmpose_inferencer`` module is first
imported: ``MMPoseInferencer(pose3d=CONFIG)`` picks its inner inferencer before the config's
``custom_imports`` import :mod:`peclr_mm.pose`, so the choice of :class:`~peclr_mm.pose.Hand25DInferencer`
for 2.5-D configs is made ready then, importing nothing of peclr_mm's until an inferencer is built.

``<peclr_mm>/.mim`` holds ``configs`` and ``model-index.yml`` (and ``tools`` after a pip install): copies in an
installed wheel, links to the repository's after ``pip install -e .`` (``setup.py``) and in a clone
(``tools/setup_env.sh``). This module imports only the standard library.
"""
from __future__ import annotations

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


def _lazy_builder(upstream):
    """``upstream(*args)``, or peclr_mm's inferencer for a 2.5-D config, decided when called
    (:func:`peclr_mm.pose.inferencer.build_3d_inferencer`)."""
    def build(*args, **kwargs):
        from peclr_mm.pose.inferencer import build_3d_inferencer
        return build_3d_inferencer(upstream, *args, **kwargs)
    build.__wrapped__ = upstream
    build.__doc__ = upstream.__doc__
    return build


def route_inferencer() -> None:
    """Teach an imported ``mmpose.apis.inferencers.mmpose_inferencer`` the 2.5-D configs (idempotent).

    mmpose 1.3 picks the inner inferencer of ``MMPoseInferencer(pose3d=CONFIG)`` by the config's path:
    ``Hand3DInferencer`` when it contains ``hand3d`` (it reads InterNet's ``rel_root_depth`` and
    ``hand_type``, which a 2.5-D head does not give), ``Pose3DInferencer`` (2-D -> 3-D lifting) otherwise.
    Both names in that module become builders that give :class:`~peclr_mm.pose.Hand25DInferencer` for a
    config with a ``Regression25DHead`` and mmpose's class for any other; ``MMPoseInferencer`` also passes on
    the call arguments ``K`` and ``bone_length`` (its call keeps only the arguments its inner inferencer
    takes, so other inferencers never see them).
    """
    module = sys.modules[_INFERENCER]
    for name in ('Hand3DInferencer', 'Pose3DInferencer'):
        upstream = getattr(module, name)
        if getattr(upstream, '__wrapped__', None) is None:
            setattr(module, name, _lazy_builder(upstream))
    module.MMPoseInferencer.preprocess_kwargs = module.MMPoseInferencer.preprocess_kwargs | {'K', 'bone_length'}


_HOOKS = {_TARGET: (register, 'register the peclr_mm:: config prefix'),
          _INFERENCER: (route_inferencer, "route MMPoseInferencer(pose3d=...) of 2.5-D configs")}


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
