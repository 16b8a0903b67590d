"""`pip install -e .` and `pip install .` into an existing OpenMMLab environment, as users install: each into a
throw-away venv that sees the project's cached stack (a ``.pth`` adding the stack's site-packages, as ``.venv``
links it), offline (``--no-deps --no-build-isolation --no-index``), from a copy of the repository. In each, a
fresh interpreter outside the sources parses configs that inherit ``peclr_mm::`` bases, with their
``custom_imports``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ('pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml', 'configs', 'peclr_mm', 'tools')
PRETRAIN = 'peclr/peclr_resnet18_1xb4-4it_freihand-64px.py'
FINETUNE = 'freihand3d/td-reg25d_res18_1xb8-1e_freihand3d-64x64.py'

# Runs in the throw-away venv, cwd a user folder holding the two child configs; argv[1] is PRETRAIN.
PROBE = """
import json, os, sys
from mmengine.config import Config
import peclr_mm
pre = Config.fromfile('pretrain.py')  # each imports its config's custom_imports: peclr_mm.selfsup, peclr_mm.pose
ft = Config.fromfile('finetune.py')
base = Config._get_cfg_path('peclr_mm::' + sys.argv[1], 'pretrain.py')[0]
print(json.dumps(dict(
    package=os.path.dirname(peclr_mm.__file__), base=os.path.realpath(base),
    pre=[pre.model.type, pre.model.backbone.depth, pre.model.head.temperature, pre.default_scope],
    ft=[ft.model.head.type, ft.model.backbone.depth, ft.train_cfg.max_epochs, ft.default_scope],
    imported=[m for m in ('peclr_mm.selfsup', 'peclr_mm.pose') if m in sys.modules],
    mim_at_startup='peclr_mm.mim' in sys.modules,
    mim=sorted(os.listdir(os.path.join(os.path.dirname(peclr_mm.__file__), '.mim'))))))
"""


def _stack_site() -> str:
    """The site-packages folder the OpenMMLab stack is installed in (``.venv`` links its entries)."""
    import mmengine

    return str(Path(mmengine.__file__).resolve().parents[1])


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTHON', 'PIP_', 'VIRTUAL_ENV'))}
    return dict(env, PIP_NO_INDEX='1', PIP_NO_CACHE_DIR='1', PIP_DISABLE_PIP_VERSION_CHECK='1', OMP_NUM_THREADS='1')


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], env=_env(), capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f'{" ".join(map(str, cmd))}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}'
    return proc


def _install(tmp: Path, mode: str) -> tuple[Path, Path, Path]:
    """A venv seeing the stack, and peclr-mm installed into it from a copy of the sources: (venv, site, copy)."""
    src = tmp / f'src-{mode}'
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns('__pycache__', '*.pyc', '.mim'))
        else:
            shutil.copy2(ROOT / name, src / name)
    venv = tmp / f'venv-{mode}'
    _run([sys.executable, '-m', 'venv', '--without-pip', venv])
    (site,) = (venv / 'lib').glob('python3*/site-packages')
    (site / '_openmmlab_stack.pth').write_text(f'import site; site.addsitedir({_stack_site()!r})\n')
    _run([venv / 'bin' / 'python', '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation', '--no-index',
          *(['-e'] if mode == 'editable' else []), src])
    return venv, site, src


@pytest.fixture(scope='module')
def user_dir(tmp_path_factory) -> Path:
    user = tmp_path_factory.mktemp('user')
    (user / 'pretrain.py').write_text(f"_base_ = ['peclr_mm::{PRETRAIN}']\nmodel = dict(head=dict(temperature=0.2))\n")
    (user / 'finetune.py').write_text(f"_base_ = ['peclr_mm::{FINETUNE}']\ntrain_cfg = dict(max_epochs=2)\n")
    return user


@pytest.mark.parametrize('mode', ['editable', 'regular'])
def test_install_gives_peclr_mm_bases_and_custom_imports(mode, tmp_path, user_dir):
    probe = subprocess.run([sys.executable, '-c', 'import pip'], capture_output=True)
    if probe.returncode != 0:
        pytest.skip('no pip in the stack')
    venv, site, src = _install(tmp_path, mode)
    pth = sorted(p.name for p in site.glob('*.pth'))
    assert 'peclr_mm-mim.pth' in pth and (site / 'peclr_mm-mim.pth').read_text() == 'import peclr_mm.mim\n', pth
    out = json.loads(_run([venv / 'bin' / 'python', '-c', PROBE, PRETRAIN], cwd=user_dir).stdout.splitlines()[-1])
    if mode == 'editable':  # the sources themselves, their .mim linked to the repository's folders
        package = src / 'peclr_mm'
        assert out['base'] == str(src / 'configs' / PRETRAIN)
        assert not (site / 'peclr_mm').exists()
    else:  # copies in site-packages
        package = site / 'peclr_mm'
        assert out['base'] == str(package / '.mim' / 'configs' / PRETRAIN)
        assert (package / '.mim' / 'tools' / 'convert_official_peclr.py').is_file()
    assert out['package'] == str(package)
    assert out['mim'] == ['configs', 'model-index.yml', 'tools']
    assert out['mim_at_startup'] and out['imported'] == ['peclr_mm.selfsup', 'peclr_mm.pose']
    assert out['pre'] == ['PeCLR', 18, 0.2, 'mmpretrain']  # the child's override on the shipped base
    assert out['ft'] == ['Regression25DHead', 18, 2, 'mmpose']
