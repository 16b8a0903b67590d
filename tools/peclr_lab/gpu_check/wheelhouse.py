"""The OpenMMLab stack on a machine without it: ``device_wheels/`` (``tools/build_device_wheels.sh``) installed
into a ``--target`` folder that this process and its children import from."""
from __future__ import annotations

import importlib.util
import os
import site
import subprocess
import time
from pathlib import Path

from ..runner import PY, ROOT

STACK_MODULES = ('mmengine', 'mmcv', 'mmpretrain', 'mmpose', 'mmdet', 'xtcocotools')


def stack_importable() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in STACK_MODULES)


def install_wheelhouse(wheelhouse: Path, target: Path) -> dict:
    """``pip install --no-index --no-deps --target`` every wheel of ``wheelhouse`` and make ``target`` a site
    folder of this process and its children (:func:`activate_site`). Returns what was installed and how long it took.
    Byte-compiled at install: pip silences the SyntaxWarnings (invalid escapes in upstream docstrings) that
    Python 3.12 would print at each package's first import."""
    wheels = sorted(Path(wheelhouse).glob('*.whl'))
    if not wheels:
        raise FileNotFoundError(f'{wheelhouse}: no wheels (build them with tools/build_device_wheels.sh)')
    t0 = time.time()
    target = Path(target)
    subprocess.run([PY, '-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--no-index', '--no-deps',
                    '--no-cache-dir', '--upgrade', '--target', str(target), *map(str, wheels)],
                   check=True)
    activate_site(target)
    return dict(wheelhouse=str(wheelhouse), target=str(target), wheels=[w.name for w in wheels],
                size_mib=round(sum(w.stat().st_size for w in wheels) / 2**20, 2), seconds=round(time.time() - t0, 1))


def activate_site(target: Path) -> None:
    """``target`` as a site folder (``site.addsitedir``: its ``.pth`` files run too) here, and on ``PYTHONPATH``
    for the children."""
    site.addsitedir(str(target))
    paths = [str(target)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    os.environ['PYTHONPATH'] = os.pathsep.join(dict.fromkeys(paths))


def prepare_stack(wheelhouse: str, work: Path) -> dict | None:
    """``wheelhouse``: ``'auto'`` installs ``device_wheels/`` only when the stack is not importable, ``'none'``
    never installs, a path always does."""
    if wheelhouse == 'none':
        return None
    if wheelhouse == 'auto':
        default = ROOT / 'device_wheels'
        if stack_importable():
            return None
        if not default.is_dir():
            raise RuntimeError('the OpenMMLab stack is not importable and there is no device_wheels/ '
                               '(tools/build_device_wheels.sh; on the device machine carry it: docs/gpu.md)')
        wheelhouse = str(default)
    return install_wheelhouse(Path(wheelhouse), work / 'site')
