"""End to end: upstream mmpretrain tools/train.py on the tiny config, backbone export for mmpose, the
official-release converter, and the paper settings of the full configs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import peclr_mm.selfsup  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs' / 'peclr'
TINY = CONFIGS / 'peclr_resnet18_1xb4-4it_freihand-64px.py'


def _run(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _mmpose_resnet(depth, checkpoint):
    from mmpose.models.backbones import ResNet
    net = ResNet(depth=depth, init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=str(checkpoint)))
    net.init_weights()
    return net


@pytest.mark.slow
def test_upstream_train_then_export_loads_into_mmpose(freihand_root, tmp_path):
    import mmpretrain
    train = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / 'train.py'
    log = _run(train, TINY, '--work-dir', tmp_path / 'work', '--cfg-options',
               f'train_dataloader.dataset.data_root={freihand_root}')
    assert 'Iter(train) [4/4]' in log and 'loss:' in log
    ckpt = tmp_path / 'work' / 'iter_4.pth'
    state = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']  # safe loading works
    assert any(k.startswith('neck.') for k in state)

    out = tmp_path / 'export' / 'backbone.pth'
    _run(ROOT / 'tools' / 'export_backbone.py', ckpt, out)
    exported = torch.load(out, weights_only=True)['state_dict']  # torch's default safe loading
    assert exported and all(k.startswith('backbone.') for k in exported)
    assert not list(out.parent.glob('.*.tmp'))  # nothing half-written left behind
    net = _mmpose_resnet(18, out)
    assert set(net.state_dict()) == {k[len('backbone.'):] for k in exported}  # no missing/unexpected key
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, state['backbone.' + k], msg=k)


def test_official_release_converter_is_numerically_exact(tmp_path):
    import torchvision
    torch.manual_seed(0)
    tv = torchvision.models.resnet18()
    for m in tv.modules():  # non-trivial BN statistics, so a wrong mapping cannot hide
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    release = tmp_path / 'peclr_rn18_release.pth'
    torch.save({'state_dict': tv.state_dict()}, release)
    out = tmp_path / 'rn18_backbone.pth'
    log = _run(ROOT / 'tools' / 'convert_official_peclr.py', release, out)
    assert 'ResNet-18' in log
    net = _mmpose_resnet(18, out)
    net.eval()  # mmpose's ResNet.train() returns None, so no chaining
    tv.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
        out = net(x)
        torch.testing.assert_close(out[-1] if isinstance(out, tuple) else out, ref)
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': {'weight': torch.zeros(1)}}, bad)
    with pytest.raises(AssertionError, match='conv1.weight'):
        _run(ROOT / 'tools' / 'convert_official_peclr.py', bad, tmp_path / 'never.pth')
    assert not (tmp_path / 'never.pth').exists()


@pytest.mark.parametrize('name', ['peclr-exact_resnet50', 'peclr-exact_resnet152', 'simclr_resnet50'])
def test_our_variant_configs_keep_their_recipe(name):
    """Our variants (the release's recipe: tests/test_selfsup_release_recipe.py): tracked views, SGD-LARS,
    8 x 128 x 2, random initialisation, exact inverse."""
    cfg = Config.fromfile(CONFIGS / f'{name}_8xb128-lars-scratch-100e_freihand-yt3dh-128px.py')
    assert cfg.custom_imports == dict(imports=['peclr_mm.selfsup'], allow_failed_imports=False)
    m = cfg.model
    assert m.type == 'PeCLR' and m.head.temperature == 0.5
    assert m.backbone.depth == (152 if '152' in name else 50)
    assert (m.neck.in_channels, m.neck.hid_channels, m.neck.out_channels) == (2048, 512, 128)
    assert tuple(m.undo) == (() if name.startswith('simclr') else ('rotate', 'translate'))
    assert (m.mode, m.normalize) == ('exact', 'after') and 'init_cfg' not in m.backbone
    assert cfg.train_dataloader.batch_size * 8 * cfg.optim_wrapper.accumulative_counts == 2048
    assert cfg.train_dataloader.collate_fn == dict(type='default_collate')
    assert cfg.optim_wrapper.optimizer.type == 'LARS' and cfg.train_cfg.max_epochs == 100
    warm, cos = cfg.param_scheduler
    assert (warm.type, warm.end, cos.type, cos.begin, cos.end) == ('LinearLR', 10, 'CosineAnnealingLR', 10, 100)
    views = cfg.train_dataloader.dataset.datasets[0].pipeline[1].transforms[0]
    affine = views[1]
    assert views[0].size == 128 and affine.max_angle == 45 and tuple(affine.shift) == (0, 15)
    assert tuple(affine.margin) == (0.9, 1.5)
    assert [d.type for d in cfg.train_dataloader.dataset.datasets] == ['FreiHandImages', 'YouTube3DHands']
