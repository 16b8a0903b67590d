"""Equivariance diagnostics: exact agreement values for invariant and position-tracking encoders, BN mode
handling that changes nothing, effective rank, and the hook in a real Runner (logged, and without any effect
on training)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from aug_matrices import random_aug_norm
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.apis import get_model
from mmpretrain.registry import DATASETS, HOOKS, MODELS
from test_selfsup_peclr import MarkerEncoder, _two_marker_dataset
from torch import nn

import peclr_mm.selfsup  # noqa: F401
from peclr_mm.selfsup import EquivarianceMonitorHook, bn_mode, effective_rank, pair_agreement

ROOT = Path(__file__).resolve().parents[1]


def test_invariant_latent_agreement_equals_the_closed_form():
    """Both views give the same points p: raw cosine 1; undone, q_v = R_v^T (p - t_v), computed here
    independently from the normalised matrices."""
    n = 16
    aug = random_aug_norm(2 * n, seed=3, max_shift=0.1).reshape(n, 2, 3, 3)  # rotation, shift
    p = np.random.default_rng(4).normal(size=(8, 2))
    z = torch.tensor(np.broadcast_to(p.reshape(1, 1, -1), (n, 2, 16)).copy(), dtype=torch.float32)
    cos = []
    for i in range(n):
        q = []
        for v in range(2):
            G = aug[i, v]
            q.append(((p - G[:2, 2]) @ G[:2, :2]).ravel())  # rows: (R^T (p - t))^T = (p - t) R
        cos.append(q[0] @ q[1] / np.linalg.norm(q[0]) / np.linalg.norm(q[1]))
    out = pair_agreement(z, torch.tensor(aug, dtype=torch.float32))
    assert out['raw'] == pytest.approx(1.0, abs=1e-6)
    assert out['undone'] == pytest.approx(float(np.mean(cos)), abs=1e-5)
    assert out['gap'] == pytest.approx(out['undone'] - 1.0, abs=1e-6)
    assert out['gap'] < -0.05


class _Neck(nn.Module):
    def forward(self, feats):
        return [feats[-1] if isinstance(feats, tuple | list) else feats]


class _MarkerModel(nn.Module):
    """backbone = marker positions (B, 4) in normalised view coordinates, identity neck."""

    def __init__(self):
        super().__init__()
        self.backbone, self.neck = MarkerEncoder(), _Neck()
        self.data_preprocessor = MODELS.build(dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]))


def test_hook_measures_a_position_tracking_latent_as_equivariant(tmp_path):
    views = [dict(type='TrackedCrop', size=96, margin=1.1),
             dict(type='TrackedRandomAffine', max_angle=45, shift=(0, 12), margin=1.0),
             dict(type='TrackedWarp')]
    ds = _two_marker_dataset(tmp_path, views)
    hook = EquivarianceMonitorHook(num_samples=2, bn_modes=('eval',))
    batch = hook._draw_batch(ds)
    again = hook._draw_batch(ds)
    for a, b in zip(batch['data_samples'], again['data_samples']):  # the probe batch is fixed by the seed
        torch.testing.assert_close(a.aug_norm, b.aug_norm)
    out = hook.measure(_MarkerModel(), batch)
    assert out['equivariance/eval_undone'] > 0.999
    assert out['equivariance/eval_gap'] > 0.05
    assert out['equivariance/eval_gap'] == pytest.approx(
        out['equivariance/eval_undone'] - out['equivariance/eval_raw'])


def test_bn_mode_uses_batch_statistics_and_restores_everything():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5))
    net[1].running_mean.fill_(3.0)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(8, 3, 6, 6)
    with torch.no_grad(), bn_mode(net, 'train'):
        assert net[1].training and not net[3].training
        y = net[:2](x)
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)  # batch statistics
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k], msg=k)
    assert all(m.training for m in net.modules())
    with torch.no_grad(), bn_mode(net, 'eval'):
        assert not net[1].training
        y = net[:2](x)
    assert float(y.mean()) < -1.0  # running mean 3 subtracted
    with pytest.raises(ValueError, match='valid'):
        with bn_mode(net, 'batch'):
            pass


def test_effective_rank_of_known_spectra():
    assert effective_rank(torch.eye(6)) == pytest.approx(5.0, rel=1e-6)  # centred: 5 equal singular values, one 0
    line = torch.arange(10.0)[:, None] * torch.tensor([[1.0, 2.0, -1.0]])
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    s = np.array([3.0, 1.0])
    x = torch.tensor(np.diag(s), dtype=torch.float64)
    x = torch.cat([x, -x])  # centred by construction, singular values sqrt(2) * s
    p = s / s.sum()
    assert effective_rank(x) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-9)


def _runner_cfg(freihand_root: Path, work_dir: Path, with_hook: bool) -> Config:
    cfg = Config.fromfile(str(ROOT / 'configs' / 'peclr' / 'peclr_resnet18_1xb4-4it_freihand-64px.py'))
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.data_root = str(freihand_root) + '/'
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.train_cfg.max_iters = 3
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=3, by_epoch=False)
    cfg.custom_hooks = [dict(type='EquivarianceMonitorHook', interval=2, num_samples=8)] if with_hook else []
    return cfg


def test_hook_logs_in_a_runner_and_does_not_change_training(freihand_root, tmp_path):
    assert HOOKS.get('EquivarianceMonitorHook') is EquivarianceMonitorHook
    weights = {}
    for with_hook in (True, False):
        runner = Runner.from_cfg(_runner_cfg(freihand_root, tmp_path / str(with_hook), with_hook))
        runner.train()
        weights[with_hook] = {k: v.clone() for k, v in runner.model.state_dict().items()}
    for k, v in weights[False].items():
        torch.testing.assert_close(weights[True][k], v, msg=k)
    # The checkpoint measured in a fresh process (built as users build it, with the config's top-level
    # data_preprocessor) gives what the run logged: BN running statistics and normalisation included.
    cfg = _runner_cfg(freihand_root, tmp_path / 'fresh', True)
    model = get_model(cfg, pretrained=str(tmp_path / 'True' / 'iter_3.pth'))
    hook = EquivarianceMonitorHook(num_samples=8)
    fresh = hook.measure(model, hook._draw_batch(DATASETS.build(cfg.train_dataloader.dataset)))
    scalars = [json.loads(line) for line in
               next((tmp_path / 'True').glob('*/vis_data/scalars.json')).read_text().splitlines()]
    probes = [s for s in scalars if 'equivariance/eval_gap' in s]
    assert [s['step'] for s in probes] == [0, 2, 3]
    for s in probes:
        for bn in ('eval', 'train'):  # the logged triple belongs together (pair_agreement: core checks)
            assert s[f'equivariance/{bn}_gap'] == pytest.approx(
                s[f'equivariance/{bn}_undone'] - s[f'equivariance/{bn}_raw'], abs=1e-9)
    for k, v in fresh.items():
        assert probes[-1][k] == pytest.approx(v, abs=1e-4), k
