"""TensorBoard logging (mmengine's TensorboardVisBackend), an optional layer over the pinned stack
(requirements/extras-tensorboard.txt, `make install EXTRAS=tensorboard`, the Makefile's default).

1. With tensorboard importable, a short pretraining run and a short fine-tuning run with the backend on write
   an event file whose scalars are the logged losses (skipped, with the reason, where it is not installed).
2. The install path: tools/setup_env.sh installs the extra from the package index into its own cache folder
   and links it into a clone's .venv, without touching the main env or its key (needs the index: skipped
   offline)."""
from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import write_freihand

ROOT = Path(__file__).resolve().parents[1]
EXTRA = ROOT / 'requirements' / 'extras-tensorboard.txt'
HAVE_TB = importlib.util.find_spec('tensorboard') is not None
BACKENDS = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]


def _pins(path: Path) -> dict[str, str]:
    return dict(re.findall(r'^([A-Za-z0-9_.\-]+)==(\S+)$', path.read_text(), re.M))


def _events(work: Path) -> dict[str, list[float]]:
    """tag -> values of the one event file under work/<timestamp>/vis_data (read with tensorboard itself)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    files = list(work.glob('*/vis_data/events.out.tfevents.*'))
    assert len(files) == 1, sorted(str(p.relative_to(work)) for p in work.rglob('*'))
    acc = EventAccumulator(str(files[0]))
    acc.Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


@pytest.fixture(scope='module')
def tiny_freihand(tmp_path_factory) -> Path:
    return write_freihand(tmp_path_factory.mktemp('freihand64'), num_train=8, num_eval=4, size=64)


@pytest.mark.skipif(not HAVE_TB, reason='tensorboard is not installed: `make install` (EXTRAS=tensorboard, the '
                                        "Makefile's default) adds requirements/extras-tensorboard.txt")
@pytest.mark.parametrize('half', ['pretrain', 'finetune'])
def test_tensorboard_backend_writes_event_file(half, tiny_freihand, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner
    if half == 'pretrain':
        import peclr_mm.selfsup  # noqa: F401
        cfg = Config.fromfile(str(ROOT / 'configs/peclr/peclr_resnet18_1xb4-4it_freihand-64px.py'))
        cfg.train_dataloader.dataset.data_root = str(tiny_freihand)
        cfg.train_cfg.max_iters = 2
        cfg.default_hooks.checkpoint.interval = 2
    else:
        import peclr_mm.pose  # noqa: F401
        cfg = Config.fromfile(str(ROOT / 'configs/freihand3d/td-reg25d_res18_1xb8-1e_freihand3d-64x64.py'))
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].dataset.data_root = str(tiny_freihand)
    cfg.visualizer.vis_backends = BACKENDS  # what a config's `visualizer = dict(vis_backends=[...])` sets
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = f'tb-{uuid.uuid4().hex}'
    # A fresh Visualizer, whatever ran before in this process: the Visualizer is a ManagerMixin singleton
    # keyed by name, and the Runner names it after the experiment only when the config leaves `name` out.
    # mmpose's default_runtime (the fine-tuning configs' base) fixes name='visualizer', so after any earlier
    # in-process Runner on such a config, get_instance('visualizer') would hand back that run's visualizer
    # (its backends, its save_dir) and this run's TensorBoard backend would never be built.
    cfg.visualizer.name = cfg.experiment_name
    runner = Runner.from_cfg(cfg)
    assert runner.visualizer.get_backend('TensorboardVisBackend') is not None
    runner.train()
    scalars = _events(tmp_path / 'work')
    losses = scalars['loss']
    assert losses and all(math.isfinite(v) for v in losses)
    assert len(losses) == (2 if half == 'pretrain' else 3)  # one per training iteration (logger interval 1)
    assert 'lr' in scalars
    if half == 'finetune':
        assert len(scalars['freihand/PA-EPE']) == 1  # validation metrics go to TensorBoard as well


_OFFLINE = re.compile(r'NewConnectionError|Network is unreachable|Temporary failure in name resolution|'
                      r'ConnectTimeout|ProxyError|Max retries exceeded')


def _setup(clone: Path, env: dict, extras: str) -> subprocess.CompletedProcess:
    return subprocess.run(['bash', str(clone / 'tools' / 'setup_env.sh')], env=dict(env, PECLR_MM_EXTRAS=extras),
                          capture_output=True, text=True, timeout=600)


def _py(clone: Path, code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(clone / '.venv' / 'bin' / 'python'), '-c', code], env=env, cwd='/',
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_extra_install_path(tmp_path):
    """A fresh extras cache over the already-built main env: setup_env.sh downloads the pinned layer, links it
    into a clone's .venv (tensorboard and torch.utils.tensorboard import, the `tensorboard` command runs),
    leaves the main env and its key alone, and drops the layer from .venv again when asked."""
    marker = (ROOT / '.venv' / '.peclr_mm_env').read_text().split()
    main_env = Path(marker[0])
    cache = tmp_path / 'cache'  # new extras cache; envs/ and wheels/ are the real ones (no 20-min rebuild)
    cache.mkdir()
    (cache / 'envs').symlink_to(main_env.parent)
    (cache / 'wheels').symlink_to(main_env.parents[1] / 'wheels', target_is_directory=True)
    clone = tmp_path / 'clone'
    for part in ('tools', 'requirements', 'peclr_mm'):
        shutil.copytree(ROOT / part, clone / part, ignore=shutil.ignore_patterns('__pycache__'))
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(PECLR_MM_CACHE=str(cache), PECLR_MM_PYTHON=sys._base_executable)

    proc = _setup(clone, env, 'tensorboard')
    if proc.returncode and _OFFLINE.search(proc.stdout + proc.stderr):
        pytest.skip('no package index reachable: ' + _OFFLINE.search(proc.stdout + proc.stderr).group(0))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'installing extra' in proc.stdout
    venv_marker = (clone / '.venv' / '.peclr_mm_env').read_text().split()
    assert Path(venv_marker[0]).name == main_env.name  # same main env: the stack's key did not change
    [layer] = list((cache / 'extras').iterdir())
    assert layer.name.startswith('tensorboard-') and (layer / '.peclr_mm_complete').is_file()

    out = _py(clone, 'import tensorboard, peclr_mm; from torch.utils.tensorboard import SummaryWriter; '
                     'print(tensorboard.__version__, tensorboard.__file__, peclr_mm.__file__)', env)
    assert out.returncode == 0, out.stderr[-2000:]
    version, tb_file, pkg_file = out.stdout.split()
    assert version == _pins(EXTRA)['tensorboard']
    assert Path(tb_file).resolve().is_relative_to(layer) and Path(pkg_file).is_relative_to(clone)
    # .venv's scripts start .venv's python (so what they launch sees this clone); activate names .venv
    venv = clone / '.venv'
    for tool in ('tensorboard', 'torchrun'):
        assert (venv / 'bin' / tool).read_text().splitlines()[0] == f'#!{venv}/bin/python', tool
    assert f'VIRTUAL_ENV="{venv}"' in (venv / 'bin' / 'activate').read_text()
    cli = subprocess.run([str(venv / 'bin' / 'tensorboard'), '--version'], env=env, capture_output=True, text=True,
                         timeout=120)
    assert cli.returncode == 0 and version in cli.stdout, cli.stdout + cli.stderr[-2000:]
    # the shared main env itself never gets the layer
    assert subprocess.run([str(main_env / 'bin' / 'python'), '-c', 'import tensorboard'], env=env,
                          capture_output=True).returncode != 0

    # .venv holds the extras of the last run: none, then tensorboard again from the cache (no download)
    assert _setup(clone, env, '').returncode == 0
    assert _py(clone, 'import tensorboard', env).returncode != 0
    again = _setup(clone, env, 'tensorboard')
    assert again.returncode == 0 and 'reusing cached extra' in again.stdout and 'installing' not in again.stdout
    assert _py(clone, 'import tensorboard', env).returncode == 0
    bad = _setup(clone, env, 'no-such-extra')
    assert bad.returncode != 0 and "unknown extra 'no-such-extra'" in bad.stderr
