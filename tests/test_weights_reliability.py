"""Weights that do not fit are refused, never half-loaded: ``init_cfg=dict(type='Pretrained')`` into a backbone of
another width or with a wrong prefix, the backbone export of any checkpoint, and the official-release converter
on files that are not a plain torchvision ResNet (depth read from the weights)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import peclr_mm.pose  # noqa: F401  (registers the check, as a fine-tuning config's custom_imports does)
from peclr_mm.checkpoint import CheckpointMismatchError

ROOT = Path(__file__).resolve().parents[1]
FINETUNE = ROOT / 'configs' / 'demo' / 'td-reg25d_res18-w32-peclr_1xb32-500it_synth-freihand3d-64x64.py'


def _resnet(lib: str, width: int, depth: int = 18, **init):
    if lib == 'mmpose':
        from mmpose.models.backbones import ResNet
    else:
        from mmpretrain.models import ResNet
    return ResNet(depth=depth, stem_channels=width, base_channels=width,
                  init_cfg=dict(type='Pretrained', **init) if init else None)


def _save_backbone(net: torch.nn.Module, path: Path, extra: dict | None = None) -> Path:
    sd = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    torch.save({'state_dict': {**sd, **(extra or {})}, 'meta': {}}, path)
    return path


def _randomised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-default values everywhere (BN statistics too), so a tensor left unloaded cannot pass as loaded."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return net


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert '\n' not in msg, msg
    return msg


@pytest.mark.parametrize('lib', ['mmpose', 'mmpretrain'])
def test_pretrained_of_another_width_is_one_line(lib, tmp_path, capfd):
    ckpt = _save_backbone(_resnet(lib, 16), tmp_path / 'rn18_w16.pth')
    target = _resnet(lib, 32, checkpoint=str(ckpt), prefix='backbone.')
    src, dst = _resnet(lib, 16).state_dict(), target.state_dict()
    differ = sum(src[k].shape != dst[k].shape for k in src)
    with pytest.raises(CheckpointMismatchError) as err:
        target.init_weights()
    msg = _one_line(err)
    assert msg.startswith(f'{ckpt}: init_cfg Pretrained')
    assert f"{differ} of {len(src)} tensors do not fit ResNet" in msg
    assert "first 'backbone.conv1.weight' is (16, 3, 7, 7) in the checkpoint, (32, 3, 7, 7) in the model" in msg
    assert 'size mismatch' not in capfd.readouterr().err  # refused before mmengine logs the mismatches


@pytest.mark.parametrize('lib', ['mmpose', 'mmpretrain'])
def test_fitting_pretrained_loads_every_tensor(lib, tmp_path):
    src = _randomised(_resnet(lib, 16), 0)
    ckpt = _save_backbone(src, tmp_path / 'rn18_w16.pth')
    net = _resnet(lib, 16, checkpoint=str(ckpt), prefix='backbone.')
    net.init_weights()
    got = net.state_dict()
    assert set(got) == set(src.state_dict())
    for k, v in src.state_dict().items():
        torch.testing.assert_close(got[k], v, rtol=0, atol=0, msg=k)


def test_bottleneck_into_basic_blocks_is_one_line(tmp_path):
    ckpt = _save_backbone(_resnet('mmpose', 16, depth=18), tmp_path / 'rn18.pth')
    with pytest.raises(CheckpointMismatchError, match=r"first 'backbone\.layer1\.0\.conv1\.weight' is "
                                                      r"\(16, 16, 3, 3\) in the checkpoint, \(16, 16, 1, 1\)"):
        _resnet('mmpose', 16, depth=50, checkpoint=str(ckpt), prefix='backbone.').init_weights()


def test_a_prefix_that_matches_nothing_is_one_line(tmp_path):
    ckpt = _save_backbone(_resnet('mmpose', 16), tmp_path / 'rn18.pth')
    with pytest.raises(CheckpointMismatchError) as err:
        _resnet('mmpose', 16, checkpoint=str(ckpt), prefix='encoder.').init_weights()
    assert _one_line(err) == (f"{ckpt}: init_cfg Pretrained prefix 'encoder.' matches no key; found 120 keys under "
                              f"['backbone.*'] (e.g. ['backbone.conv1.weight', 'backbone.bn1.weight', "
                              f"'backbone.bn1.bias'])")
    with pytest.raises(CheckpointMismatchError) as err:  # no prefix: every key is "backbone.<name>"
        _resnet('mmpose', 16, checkpoint=str(ckpt)).init_weights()
    assert _one_line(err) == (f"{ckpt}: init_cfg Pretrained: no tensor matches a parameter of ResNet; its 120 keys "
                              f"look like ['backbone.conv1.weight', 'backbone.bn1.weight'], the model's like "
                              f"['conv1.weight', 'bn1.weight'] (wrong init_cfg prefix?)")


def _finetuning_model(checkpoint: Path):
    """The demo's fine-tuning model (ResNet-18 of width 32 + Regression25DHead) initialised from ``checkpoint``."""
    from mmpose.registry import MODELS

    cfg = Config.fromfile(str(FINETUNE))
    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    init_default_scope('mmpose')
    return MODELS.build(cfg.model)


def test_finetuning_config_refuses_a_backbone_of_another_width(tmp_path):
    wrong = _save_backbone(_resnet('mmpose', 16), tmp_path / 'w16.pth')
    with pytest.raises(CheckpointMismatchError, match=rf'^{re.escape(str(wrong))}: .* 100 of 120 tensors'):
        _finetuning_model(wrong).init_weights()
    # the right width, saved from a fine-tuned model (backbone + head): the head's keys are left alone
    src = _randomised(_resnet('mmpose', 32), 1)
    right = _save_backbone(src, tmp_path / 'w32.pth', extra={'head.fc.weight': torch.zeros(3, 4)})
    model = _finetuning_model(right)
    model.init_weights()
    for k, v in src.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[k], v, rtol=0, atol=0, msg=k)


def test_missing_and_unexpected_keys_still_load(tmp_path):
    """A whole-model init_cfg from a backbone-only file (the head is missing) and a torchvision-style file with
    ``fc.*`` (unexpected) load as before."""
    from mmpose.registry import MODELS

    src = _randomised(_resnet('mmpose', 16), 2)
    ckpt = _save_backbone(src, tmp_path / 'backbone.pth')
    init_default_scope('mmpose')
    model = MODELS.build(dict(
        type='TopdownPoseEstimator', backbone=dict(type='ResNet', depth=18, stem_channels=16, base_channels=16),
        neck=dict(type='GlobalAveragePooling'), head=dict(type='RegressionHead', in_channels=128, num_joints=21),
        init_cfg=dict(type='Pretrained', checkpoint=str(ckpt))))
    model.init_weights()
    for k, v in src.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[k], v, rtol=0, atol=0, msg=k)
    tv_style = tmp_path / 'tv_style.pth'
    torch.save({**src.state_dict(), 'fc.weight': torch.zeros(10, 512), 'fc.bias': torch.zeros(10)}, tv_style)
    net = _resnet('mmpose', 16, checkpoint=str(tv_style))
    net.init_weights()
    torch.testing.assert_close(net.conv1.weight, src.conv1.weight, rtol=0, atol=0)


def test_model_hooks_that_reshape_tensors_still_work(tmp_path):
    """mmpretrain's ViT resizes the position embedding in a load pre-hook: another input size is no mismatch."""
    from mmpretrain.models import VisionTransformer

    arch = dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64)
    src = VisionTransformer(arch=arch, img_size=32, patch_size=16)
    ckpt = _save_backbone(src, tmp_path / 'vit.pth')
    net = VisionTransformer(arch=arch, img_size=48, patch_size=16,
                            init_cfg=dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    net.init_weights()
    assert net.pos_embed.shape == (1, 1 + 3 * 3, 32)
    torch.testing.assert_close(net.patch_embed.projection.weight, src.patch_embed.projection.weight)


def test_load_from_and_resume_are_unchanged(tmp_path):
    """``Runner(load_from=...)`` (mmengine's ``_load_checkpoint_to_model``) still loads what fits and logs the
    rest: only init_cfg Pretrained loads are checked."""
    from mmengine.runner.checkpoint import _load_checkpoint_to_model

    src = _randomised(_resnet('mmpose', 16), 3)
    ckpt = {'state_dict': {'conv1.weight': torch.zeros(32, 3, 7, 7), 'bn1.weight': src.bn1.weight.clone()}}
    net = _resnet('mmpose', 16)
    _load_checkpoint_to_model(net, ckpt)
    torch.testing.assert_close(net.bn1.weight, src.bn1.weight)
    assert net.conv1.weight.shape == (16, 3, 7, 7)


def _main(tool: str, argv: list, capsys) -> tuple[int, str, str]:
    """``tools/<tool>``'s ``main(argv)`` in this process: (exit status, stdout, stderr)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(tool[:-3], ROOT / 'tools' / tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        rc = module.main([str(a) for a in argv])
    except SystemExit as stop:  # --help
        rc = stop.code
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.slow
def test_upstream_train_stops_with_one_line_on_a_backbone_of_another_width(freihand_root, tmp_path):
    """mmpose's tools/train.py on the demo's fine-tuning config with a width-16 backbone: the run stops at
    weight initialisation; the last line is the error naming the file."""
    import mmpose

    wrong = _save_backbone(_resnet('mmpose', 16), tmp_path / 'w16.pth')
    train = Path(mmpose.__file__).parent / '.mim' / 'tools' / 'train.py'
    proc = subprocess.run(
        [sys.executable, str(train), str(FINETUNE), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         f'model.backbone.init_cfg.checkpoint={wrong}', f'train_dataloader.dataset.data_root={freihand_root}',
         f'test_dataloader.dataset.data_root={freihand_root}', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False'],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='2'), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'peclr_mm.checkpoint.CheckpointMismatchError: {wrong}: init_cfg Pretrained'), last
    assert 'size mismatch' not in proc.stdout + proc.stderr
    assert not list((tmp_path / 'work').rglob('*.pth'))


# Backbone export of any checkpoint.

def test_export_of_a_finetuned_pose_checkpoint_keeps_the_backbone(tmp_path, capsys):
    """A fine-tuned top-down model (backbone + head): only ``backbone.*`` is written, the printed line says
    what was left out, and the file loads into mmpose's ResNet with every tensor equal."""
    from mmpose.registry import MODELS

    init_default_scope('mmpose')
    model = MODELS.build(dict(
        type='TopdownPoseEstimator', backbone=dict(type='ResNet', depth=18, stem_channels=16, base_channels=16),
        neck=dict(type='GlobalAveragePooling'), head=dict(type='RegressionHead', in_channels=128, num_joints=21)))
    _randomised(model, 4)
    ckpt = tmp_path / 'finetuned.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 100}}, ckpt)
    heads = sum(k.startswith('head.') for k in model.state_dict())
    rc, out, err = _main('export_backbone.py', [ckpt, tmp_path / 'backbone.pth'], capsys)
    assert rc == 0, err
    assert out.strip() == (f'wrote {len(model.backbone.state_dict())} backbone.* tensors to '
                           f'{tmp_path / "backbone.pth"} (left out: {heads} head.*)')
    exported = torch.load(tmp_path / 'backbone.pth', weights_only=True)
    assert set(exported['state_dict']) == {f'backbone.{k}' for k in model.backbone.state_dict()}
    assert exported['meta']['left_out'] == f'{heads} head.*'
    net = _resnet('mmpose', 16, checkpoint=str(tmp_path / 'backbone.pth'), prefix='backbone.')
    net.init_weights()
    for k, v in model.backbone.state_dict().items():
        torch.testing.assert_close(net.state_dict()[k], v, rtol=0, atol=0, msg=k)
    _, help_text, _ = _main('export_backbone.py', ['--help'], capsys)
    assert 'fine-tuned' in help_text and 'pretraining checkpoint' not in help_text


# The official-release converter: depth from the weights, anything else one line.

def _release(tmp: Path, name: str, arch: str, wrap: str = '', drop: str = '') -> Path:
    """A torchvision ``arch`` state_dict under the release's key names (``{'state_dict': ...}``, optionally
    every key under ``wrap``), without the keys starting with ``drop``."""
    import torchvision

    torch.manual_seed(0)
    sd = getattr(torchvision.models, arch)().state_dict()
    sd = {f'{wrap}{k}': v for k, v in sd.items() if not (drop and k.startswith(drop))}
    torch.save({'state_dict': sd}, tmp / name)
    return tmp / name


@pytest.mark.parametrize('arch,depth,wrap,check', [('resnet18', 18, '', True), ('resnet34', 34, 'encoder.', False),
                                                   ('resnet50', 50, '', False)])
def test_converter_labels_the_depth_of_the_weights(tmp_path, capsys, arch, depth, wrap, check):
    release = _release(tmp_path, f'{arch}.pth', arch, wrap)
    rc, out, err = _main('convert_official_peclr.py', [release, tmp_path / 'out.pth'] + ([] if check else
                                                                                       ['--no-check']), capsys)
    assert rc == 0, err
    assert out.startswith(f'wrote ResNet-{depth} backbone')
    assert torch.load(tmp_path / 'out.pth', weights_only=True)['meta']['depth'] == str(depth)
    net = _resnet('mmpose', 64, depth=depth, checkpoint=str(tmp_path / 'out.pth'), prefix='backbone.')
    net.init_weights()  # loads without a mismatch: the label is right


@pytest.mark.parametrize('make,message', [
    # ResNeXt's 16 blocks have wider conv1/conv2 and their BN (weight, bias, running mean/var): 16 x 11 tensors
    (lambda t: _release(t, 'resnext.pth', 'resnext50_32x4d'),
     r'resnext.pth: 176 of 318 tensors have other shapes than in torchvision\'s ResNet-50 \(Bottleneck blocks '
     r'\(3, 4, 6, 3\)\): first "layer1.0.conv1.weight" is \(128, 64, 1, 1\), ResNet-50 has \(64, 64, 1, 1\) '
     r'\(not a plain ResNet-50\)$'),
    (lambda t: _release(t, 'no_layer4.pth', 'resnet18', drop='layer4.'),
     r'no_layer4.pth: not a torchvision ResNet-18/34/50/101/152 state_dict: BasicBlock blocks per stage '
     r'\(2, 2, 2, 0\)$'),
    (lambda t: _release(t, 'no_downsample.pth', 'resnet18', drop='layer2.0.downsample.'),
     r'no_downsample.pth: 5 tensors of torchvision\'s ResNet-18 \(BasicBlock blocks \(2, 2, 2, 2\)\) missing, '
     r'e.g. "layer2.0.downsample.0.weight"$'),
    (lambda t: _release(t, 'squeezenet.pth', 'squeezenet1_1'), r'squeezenet.pth: field "conv1.weight" missing'),
], ids=['resnext50', 'three-stages', 'no-downsample', 'squeezenet'])
def test_converter_refuses_what_is_not_a_plain_resnet_in_one_line(tmp_path, capsys, make, message):
    release = make(tmp_path)
    for check in ([], ['--no-check']):  # --no-check never writes a file labelled with another depth
        rc, out, err = _main('convert_official_peclr.py', [release, tmp_path / 'out.pth', *check], capsys)
        assert (rc, out) == (1, '') and len(err.strip().splitlines()) == 1, err
        assert re.match(rf'error: {re.escape(str(tmp_path))}/{message}', err.strip()), err
        assert not (tmp_path / 'out.pth').exists()


def test_converter_command_line_prints_one_line(tmp_path):
    """The command itself (no traceback), on a ResNet-18 with a 3 x 3 stem, checked and with --no-check."""
    release = _release(tmp_path, 'stem3x3.pth', 'resnet18')
    sd = torch.load(release, weights_only=True)
    sd['state_dict']['conv1.weight'] = torch.zeros(64, 3, 3, 3)
    torch.save(sd, release)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='2')
    res = subprocess.run([sys.executable, str(ROOT / 'tools' / 'convert_official_peclr.py'), str(release),
                          str(tmp_path / 'out.pth'), '--no-check'], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 1 and res.stdout == ''
    assert res.stderr == (f'error: {release}: 1 of 120 tensors have other shapes than in torchvision\'s ResNet-18 '
                          f'(BasicBlock blocks (2, 2, 2, 2)): first "conv1.weight" is (64, 3, 3, 3), ResNet-18 has '
                          f'(64, 3, 7, 7) (not a plain ResNet-18)\n')
    assert not (tmp_path / 'out.pth').exists()
