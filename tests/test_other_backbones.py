"""ConvNeXt and ViT configs (PeCLR pretraining + mmpose fine-tuning) and LARS exclusion by module type.

The optimiser checks build the full-size models of the configs (ResNet-50, ConvNeXt-T, ViT-B/16) and only
construct the optim wrapper; the forward checks use the smallest variants at 64 px.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
PRETRAIN = {
    'resnet50': ROOT / 'configs/peclr/peclr-exact_resnet50_8xb128-lars-scratch-100e_freihand-yt3dh-128px.py',
    'convnext': ROOT / 'configs/peclr/peclr_convnext-tiny_8xb128-100e_freihand-yt3dh-128px.py',
    'vit': ROOT / 'configs/peclr/peclr_vit-base-p16_8xb128-100e_freihand-yt3dh-128px.py',
}
FINETUNE = {
    'convnext': ROOT / 'configs/freihand3d/td-reg25d_convnext-tiny-peclr_8xb64-100e_freihand3d-224x224.py',
    'vit': ROOT / 'configs/freihand3d/td-reg25d_vit-base-p16-peclr_8xb64-100e_freihand3d-224x224.py',
}
# smallest variants for the forward checks: backbone overrides and their feature width
TINY = {
    'convnext': (dict(arch='atto'), 320),
    'vit': (dict(arch=dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128), img_size=64), 64),
}
OLD_KEYS = {k: dict(decay_mult=0, lars_exclude=True) for k in ('bn', 'bias', 'downsample.1')}


def _pretrain_model(cfg):
    from mmpretrain.registry import MODELS

    import peclr_mm.selfsup  # noqa: F401
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.model)


def _optim_flags(model, optim_cfg):
    from mmengine.optim import build_optim_wrapper

    from peclr_mm.selfsup.lars_constructor import lars_excluded
    return lars_excluded(build_optim_wrapper(model, copy.deepcopy(optim_cfg)).optimizer, model)


def _kinds(model):
    """Parameter name -> 'norm' | 'bias' | 'weight' (conv/linear) | 'other'."""
    from peclr_mm.selfsup.lars_constructor import norm_types
    kinds = {}
    for mod_name, module in model.named_modules():
        for p_name, _ in module.named_parameters(recurse=False):
            name = f'{mod_name}.{p_name}' if mod_name else p_name
            if isinstance(module, norm_types()):
                kinds[name] = 'norm'
            elif p_name == 'bias':
                kinds[name] = 'bias'
            elif isinstance(module, nn.modules.conv._ConvNd | nn.Linear) and p_name == 'weight':
                kinds[name] = 'weight'
            else:
                kinds[name] = 'other'
    return kinds


def test_resnet50_paper_schedule_excludes_exactly_what_the_name_keys_did():
    cfg = Config.fromfile(str(PRETRAIN['resnet50']))
    assert 'paramwise_cfg' not in cfg.optim_wrapper  # by type now, no name keys
    model = _pretrain_model(cfg)
    new = _optim_flags(model, cfg.optim_wrapper)
    old_cfg = copy.deepcopy(cfg.optim_wrapper)
    old_cfg.pop('constructor')
    old_cfg['paramwise_cfg'] = dict(custom_keys=OLD_KEYS)
    old = _optim_flags(model, old_cfg)
    assert new == old  # the paper config's behaviour is unchanged
    assert sum(new.values()) == 53 * 2 + 2 + 1  # ResNet-50's 53 BN layers, the projection's BN and Linear bias
    # and each group's other settings: LARS defaults, one parameter per group, as with custom_keys
    from mmengine.optim import build_optim_wrapper
    groups = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper)).optimizer.param_groups
    assert all(len(g['params']) == 1 and g['lr'] == 2.4 for g in groups)
    assert {g['weight_decay'] for g in groups if not g.get('lars_exclude')} == {1e-6}


@pytest.mark.parametrize('arch', ['convnext', 'vit'])
def test_norm_layers_and_biases_are_excluded_by_type(arch):
    cfg = Config.fromfile(str(PRETRAIN[arch]))
    model = _pretrain_model(cfg)
    flags = _optim_flags(model, cfg.optim_wrapper)
    kinds = _kinds(model)
    assert set(flags) == set(kinds)
    norm = [n for n, k in kinds.items() if k == 'norm']
    backbone_norm_weights = [n for n in norm if n.startswith('backbone.') and n.endswith('.weight')]
    assert len(backbone_norm_weights) == {'convnext': 23, 'vit': 25}[arch]
    assert all(flags[n] for n in norm), [n for n in norm if not flags[n]]
    assert all(flags[n] for n, k in kinds.items() if k == 'bias')
    weights = [n for n, k in kinds.items() if k == 'weight']
    assert weights and not any(flags[n] for n in weights)
    others = {n: flags[n] for n, k in kinds.items() if k == 'other'}
    if arch == 'convnext':  # layer scale: 1-D, initialised at 1e-6, not LARS-adapted
        assert len(others) == 18 and all(n.endswith('.gamma') for n in others) and all(others.values())
    else:  # position embedding and class token are not 1-D: adapted and decayed as weights
        assert others == {'backbone.cls_token': False, 'backbone.pos_embed': False}
    # what the name keys would have done: no normalisation weight of these backbones excluded
    old_cfg = copy.deepcopy(cfg.optim_wrapper)
    old_cfg.pop('constructor')
    old_cfg['paramwise_cfg'] = dict(custom_keys=OLD_KEYS)
    old = _optim_flags(model, old_cfg)
    assert not any(old[n] for n in backbone_norm_weights)


def _views(n=4, size=64, seed=0):
    """Two views (n, 3, size, size) and per-sample (2, 3, 3) view augmentations (rotation about the view
    centre + shift of up to 5 px) in normalised view coordinates."""
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    views = [torch.rand(n, 3, size, size, generator=g) * 255 for _ in range(2)]
    samples = []
    for _ in range(n):
        mats = []
        for _ in range(2):
            th = float(torch.empty(1).uniform_(-0.7, 0.7, generator=g))
            t = torch.empty(2).uniform_(-5, 5, generator=g) / size
            mats.append(torch.tensor([[math.cos(th), -math.sin(th), t[0]], [math.sin(th), math.cos(th), t[1]],
                                      [0, 0, 1]]))
        ds = DataSample()
        ds.set_field(torch.stack(mats), 'aug_norm')
        samples.append(ds)
    return views, samples


@pytest.mark.parametrize('arch', ['convnext', 'vit'])
def test_pretraining_configs_give_a_loss(arch):
    cfg = Config.fromfile(str(PRETRAIN[arch]))
    overrides, width = TINY[arch]
    cfg.model.backbone.update(overrides)
    cfg.model.neck.update(in_channels=width, hid_channels=32, out_channels=16)
    cfg.model.neck.norm_cfg = dict(type='BN1d')
    assert cfg.model.neck.with_avg_pool is False
    torch.manual_seed(0)
    model = _pretrain_model(cfg)
    views, samples = _views()
    data = model.data_preprocessor(dict(inputs=views, data_samples=samples), training=True)
    feats = model.backbone(data['inputs'][0])
    assert len(feats) == 1 and feats[0].shape == (4, width)  # pooled (B, C) for the projection
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert torch.isfinite(losses['loss'])
    losses['loss'].backward()
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)


def _pose_model(arch, checkpoint=None, img_size=64):
    from mmpose.registry import MODELS

    import peclr_mm.pose  # noqa: F401
    cfg = Config.fromfile(str(FINETUNE[arch]))
    overrides, width = TINY[arch]
    assert cfg.model.backbone.type.startswith('mmpretrain.') and cfg.model.neck is None
    assert cfg.model.head.in_channels == 768
    cfg.model.backbone.update(overrides)
    if arch == 'vit':
        cfg.model.backbone.img_size = img_size
    cfg.model.head.update(in_channels=width, root_hidden=8, decoder=dict(type='Hand25D', input_size=(64, 64)))
    if checkpoint is None:
        cfg.model.backbone.pop('init_cfg')  # the backbone's own initialisation
    else:
        cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    init_default_scope('mmpose')
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('arch', ['convnext', 'vit'])
def test_finetuning_configs_run_forward_at_64px(arch, pose_batch):
    torch.manual_seed(0)
    model = _pose_model(arch)
    model.init_weights()
    data = model.data_preprocessor(copy.copy(pose_batch), training=True)
    out = model(data['inputs'], data['data_samples'], mode='tensor')
    assert out.shape == (3, 21, 3)
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert {'loss_uv', 'loss_z', 'loss_root'} <= set(losses)
    assert all(torch.isfinite(v) for k, v in losses.items() if k.startswith('loss'))
    model.eval()
    with torch.no_grad():
        preds = model(data['inputs'], data['data_samples'], mode='predict')
    assert len(preds) == 3 and preds[0].pred_instances.keypoints.shape == (1, 21, 2)


@pytest.mark.parametrize('arch', ['convnext', 'vit'])
def test_pretrained_backbone_loads_into_the_finetuning_config(arch, tmp_path):
    """The exported PeCLR backbone (`backbone.*`) loads into the mmpose config; the ViT's 64 px position
    embedding is interpolated to the fine-tuning grid (96 px here)."""
    cfg = Config.fromfile(str(PRETRAIN[arch]))
    overrides, width = TINY[arch]
    cfg.model.backbone.update(overrides)
    cfg.model.neck.update(in_channels=width, hid_channels=32, out_channels=16, norm_cfg=dict(type='BN1d'))
    torch.manual_seed(1)
    pre = _pretrain_model(cfg)
    pre.init_weights()
    state = {f'backbone.{k}': v for k, v in pre.backbone.state_dict().items()}
    torch.save({'state_dict': state}, tmp_path / 'backbone.pth')
    model = _pose_model(arch, checkpoint=tmp_path / 'backbone.pth', img_size=96)
    model.init_weights()
    loaded = model.backbone.state_dict()
    for key, value in pre.backbone.state_dict().items():
        if key == 'pos_embed':
            assert loaded[key].shape == (1, 1 + 6 * 6, width) and value.shape == (1, 1 + 4 * 4, width)
        else:
            torch.testing.assert_close(loaded[key], value, msg=key)
