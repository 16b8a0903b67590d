"""Two-process CPU DDP (gloo): PeCLR's loss and gradients equal the single-process run on the whole batch.

This needs the cross-rank gather to all-reduce in backward (mmpretrain's GatherLayer keeps only this
rank's term, which makes the DDP gradient wrong)."""
from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

WORLD = 2
N = 6  # images in the whole batch (3 per rank)


class TinyNet(nn.Module):
    """BN-free conv backbone (batch statistics would differ per rank by design)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)

    def forward(self, x):
        return (torch.relu(self.conv2(torch.relu(self.conv1(x)))),)


def _build():
    import peclr_mm.selfsup  # noqa: F401
    from peclr_mm.selfsup import PeCLR
    torch.manual_seed(0)
    return PeCLR(backbone=TinyNet(),
                 neck=dict(type='NonLinearNeck', in_channels=16, hid_channels=16, out_channels=8, num_layers=2,
                           with_bias=True, with_last_bn=False, norm_cfg=dict(type='LN')),
                 head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.5),
                 undo=('rotate', 'translate', 'scale'))


def _batch():
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randn(N, 3, 24, 24, generator=g) for _ in range(2)]
    th = (torch.rand(N, 2, generator=g) - 0.5) * 1.5
    s = 0.8 + 0.4 * torch.rand(N, 2, generator=g)
    aug = torch.zeros(N, 2, 3, 3)
    aug[..., 0, 0], aug[..., 0, 1] = s * torch.cos(th), -s * torch.sin(th)
    aug[..., 1, 0], aug[..., 1, 1] = s * torch.sin(th), s * torch.cos(th)
    aug[..., :2, 2] = torch.randn(N, 2, 2, generator=g) * 3 / 24  # normalised view coordinates: 3 px at 24 px
    aug[..., 2, 2] = 1
    samples = []
    for a in aug:
        ds = DataSample()
        ds.set_field(a, 'aug_norm')
        samples.append(ds)
    return inputs, samples


def _loss_and_grads(model, inputs, samples):
    loss = model(inputs, samples, mode='loss')['loss']
    loss.backward()
    return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}


def _worker(rank: int, init_file: str, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=WORLD)
    try:
        model = _build()
        inputs, samples = _batch()
        part = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
        loss, grads = _loss_and_grads(DistributedDataParallel(model), [x[part] for x in inputs], samples[part])
        torch.save(dict(loss=loss, grads={k.removeprefix('module.'): v for k, v in grads.items()}),
                   f'{out}.{rank}')
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_ddp_equals_single_process(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / 'init'), str(tmp_path / 'res')), nprocs=WORLD, join=True)
    ref_loss, ref_grads = _loss_and_grads(_build(), *_batch())
    for rank in range(WORLD):
        res = torch.load(tmp_path / f'res.{rank}', weights_only=True)
        torch.testing.assert_close(res['loss'], ref_loss, atol=1e-6, rtol=1e-6)
        assert res['grads'].keys() == ref_grads.keys()
        for k, g in ref_grads.items():
            torch.testing.assert_close(res['grads'][k], g, atol=1e-6, rtol=1e-4, msg=f'rank {rank}: {k}')
    assert any(g.abs().sum() > 0 for g in ref_grads.values())
    os.remove(tmp_path / 'res.0')
