"""AutocastOptimWrapper and ChannelsLastHook (peclr_mm.training_speed) in real mmengine Runners on the CPU:
what they change (dtype inside the forward, memory format) and what they keep (the float32 update, the
values, the optimizer's parameters)."""
from __future__ import annotations

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from mmengine.runner import Runner
from torch import nn

from peclr_mm.training_speed import AutocastOptimWrapper, ChannelsLastHook, cpu_has_fast_bf16


@MODELS.register_module(force=True)
class _TinyConvNet(BaseModel):
    """Conv -> BN -> ReLU -> pool -> linear; a squared-error loss; records the conv output's dtype."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 2)
        self.seen = []

    def forward(self, inputs, targets, mode='loss'):
        h = self.conv(inputs)
        self.seen.append(h.dtype)
        out = self.fc(torch.relu(self.bn(h)).mean((2, 3)))
        return {'loss': ((out.float() - targets) ** 2).mean()}


def _data(n=16):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(n, 3, 8, 8, generator=g), torch.randn(n, 2, generator=g)
    return [dict(inputs=x[i], targets=y[i]) for i in range(n)]


def _run(tmp_path, name, wrapper: dict, hooks=(), iters=3):
    runner = Runner(model=dict(type='_TinyConvNet'), work_dir=str(tmp_path / name),
                    train_dataloader=dict(dataset=_data(), batch_size=8, sampler=dict(type='DefaultSampler',
                                                                                      shuffle=False),
                                          collate_fn=dict(type='default_collate')),
                    train_cfg=dict(by_epoch=False, max_iters=iters),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1), **wrapper),
                    custom_hooks=list(hooks), default_hooks=dict(checkpoint=None, logger=None),
                    default_scope='mmengine', randomness=dict(seed=0))
    runner.train()
    return runner


def _manual_sgd(steps: int, bf16: bool) -> dict:
    """The same training by hand: SGD lr 0.1 on the same batches, the forward under torch.autocast."""
    from mmengine.model import BaseDataPreprocessor
    model, pre = _TinyConvNet(), BaseDataPreprocessor()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = _data()
    for k in range(steps):
        batch = pre(dict(inputs=torch.stack([d['inputs'] for d in data[8 * (k % 2):8 * (k % 2) + 8]]),
                         targets=torch.stack([d['targets'] for d in data[8 * (k % 2):8 * (k % 2) + 8]])),
                    training=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch)['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.state_dict()


def test_autocast_wrapper_runs_the_forward_in_bfloat16_and_the_update_in_float32(tmp_path):
    runner = _run(tmp_path, 'bf16', dict(type='AutocastOptimWrapper', dtype='bfloat16'))
    model = runner.model
    assert isinstance(runner.optim_wrapper, AutocastOptimWrapper)
    assert model.seen == [torch.bfloat16] * 3
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # the Runner's three steps equal three hand-written autocast SGD steps on the same batches
    expected = _manual_sgd(3, bf16=True)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, expected[k], rtol=0, atol=1e-6, msg=k)
    # and differ from float32 training (bfloat16 is really used)
    fp32 = _manual_sgd(3, bf16=False)
    assert not torch.allclose(model.conv.weight, fp32['conv.weight'], atol=1e-6)


def test_autocast_wrapper_refuses_other_types():
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(ValueError, match='optim_wrapper.dtype: AutocastOptimWrapper runs bfloat16 only'):
        AutocastOptimWrapper(opt, dtype='float16')


def test_channels_last_hook_changes_the_layout_not_the_values(tmp_path):
    plain = _run(tmp_path, 'plain', {})
    fast = _run(tmp_path, 'cl', {}, hooks=[dict(type='ChannelsLastHook')])
    w = fast.model.conv.weight
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    assert not plain.model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    # the optimizer updated the very parameters the model holds
    assert any(p is w for g in fast.optim_wrapper.optimizer.param_groups for p in g['params'])
    for (k, a), b in zip(plain.model.state_dict().items(), fast.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    assert fast.model.seen == [torch.float32] * 3


def test_both_halves_find_them_in_their_registries():
    from mmpose.registry import HOOKS as POSE_HOOKS
    from mmpose.registry import OPTIM_WRAPPERS as POSE_WRAPPERS
    from mmpretrain.registry import HOOKS as PRETRAIN_HOOKS
    from mmpretrain.registry import OPTIM_WRAPPERS as PRETRAIN_WRAPPERS

    import peclr_mm.pose  # noqa: F401
    import peclr_mm.selfsup  # noqa: F401
    for reg in (POSE_WRAPPERS, PRETRAIN_WRAPPERS):
        assert reg.get('AutocastOptimWrapper') is AutocastOptimWrapper
    for reg in (POSE_HOOKS, PRETRAIN_HOOKS):
        assert reg.get('ChannelsLastHook') is ChannelsLastHook
    assert isinstance(PRETRAIN_HOOKS.build(dict(type='ChannelsLastHook')), ChannelsLastHook)


def test_cpu_check_follows_torch(monkeypatch):
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: False, raising=False)
    assert cpu_has_fast_bf16() is False
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: True, raising=False)
    assert cpu_has_fast_bf16() is True
    monkeypatch.delattr(torch.cpu, '_is_amx_tile_supported', raising=False)
    assert cpu_has_fast_bf16() is False
