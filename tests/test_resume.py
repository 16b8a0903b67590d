"""Fault tolerance: a run killed (SIGKILL) mid-training and resumed with upstream ``tools/train.py --resume``
ends exactly where an uninterrupted run ends: the same losses after the resume point and the same weights.
CPU, fixed seed, deterministic, no data workers; pretraining (mmpretrain) and fine-tuning (mmpose)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from peclr_lab.experiments.plan import schedule_options

from peclr_mm.checkpoint import load_checkpoint, register_safe_globals

register_safe_globals()

ROOT = Path(__file__).resolve().parents[1]
ITERS = 6


def _train_py(lib: str) -> Path:
    module = __import__(lib)
    return Path(module.__file__).parent / '.mim' / 'tools' / 'train.py'


def _cmd(lib: str, config: Path, work: Path, options: list[str], resume: bool = False) -> list[str]:
    cmd = [sys.executable, str(_train_py(lib)), str(config), '--work-dir', str(work)]
    return cmd + (['--resume'] if resume else []) + ['--cfg-options', *options]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')


def _losses(work: Path) -> dict[int, float]:
    out = {}
    for run in sorted(work.glob('*/vis_data/scalars.json')):
        for line in run.read_text().splitlines():
            rec = json.loads(line)
            if 'loss' in rec:
                out[rec['step']] = rec['loss']
    return out


def _kill_and_resume(lib: str, config: Path, tmp: Path, options: list[str], kill_after: int) -> tuple:
    """Uninterrupted run vs a run SIGKILLed once ``iter_<kill_after>.pth`` exists, then resumed."""
    full = tmp / 'full'
    subprocess.run(_cmd(lib, config, full, options), env=_env(), check=True, capture_output=True, timeout=300)
    killed = tmp / 'killed'
    proc = subprocess.Popen(_cmd(lib, config, killed, options), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not (killed / f'iter_{kill_after}.pth').exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / f'iter_{ITERS}.pth').exists(), 'the run finished before it could be killed'
    res = subprocess.run(_cmd(lib, config, killed, options, resume=True), env=_env(), capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert 'resumed epoch' in res.stdout + res.stderr or 'Load checkpoint from' in res.stdout + res.stderr
    weights = [load_checkpoint(str(w / f'iter_{ITERS}.pth'))['state_dict'] for w in (full, killed)]
    return _losses(full), _losses(killed), weights


def _assert_same(full_losses, resumed_losses, weights):
    assert set(full_losses) == set(range(1, ITERS + 1)), full_losses
    assert resumed_losses[ITERS] == pytest.approx(full_losses[ITERS], rel=1e-6, abs=1e-7)
    for step, loss in resumed_losses.items():  # every logged iteration, before and after the kill
        assert loss == pytest.approx(full_losses[step], rel=1e-6, abs=1e-7), step
    for k, v in weights[0].items():
        torch.testing.assert_close(weights[1][k], v, rtol=1e-6, atol=1e-7, msg=k)


def test_pretraining_killed_and_resumed_equals_uninterrupted(freihand_root, tmp_path):
    config = ROOT / 'configs' / 'peclr' / 'peclr_resnet18_1xb4-4it_freihand-64px.py'
    options = [f'train_dataloader.dataset.data_root={freihand_root}/', f'train_cfg.max_iters={ITERS}',
               'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=-1',
               'randomness.seed=0', 'randomness.deterministic=True', 'default_hooks.logger.interval=1']
    _assert_same(*_kill_and_resume('mmpretrain', config, tmp_path, options, kill_after=3))


def test_finetuning_killed_and_resumed_equals_uninterrupted(freihand_root, tmp_path):
    config = ROOT / 'configs' / 'demo' / 'td-reg25d_res18-w32_1xb32-500it_synth-freihand3d-64x64.py'
    options = [f'{s}_dataloader.dataset.data_root={freihand_root}/' for s in ('train', 'test')]
    options += schedule_options(config, ITERS, 1)  # the demo's way to shorten it: warm-up and cosine rescaled
    options += ['train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False', 'default_hooks.checkpoint.interval=1',
                'default_hooks.checkpoint.max_keep_ckpts=-1', 'randomness.seed=0', 'randomness.deterministic=True',
                'default_hooks.logger.interval=1']
    _assert_same(*_kill_and_resume('mmpose', config, tmp_path, options, kill_after=2))
