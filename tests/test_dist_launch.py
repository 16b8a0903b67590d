"""Multi-process training on the CPU through the real launcher path: torchrun + upstream tools/train.py +
``--launcher pytorch`` (gloo), for the tiny PeCLR pretraining config and the tiny 2.5-D fine-tuning config.

mmengine's pytorch launcher calls ``torch.cuda.set_device`` and its DDP wrapper passes ``device_ids`` even on
the CPU; ``peclr_mm.compat.cpu_distributed`` (applied by both halves on import) makes both CPU-safe and does nothing when
mmengine sees an accelerator. See docs/distributed.md."""
from __future__ import annotations

import datetime
import importlib
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import write_freihand

from peclr_mm.compat import cpu_distributed

ROOT = Path(__file__).resolve().parents[1]
PRETRAIN = ROOT / 'configs' / 'peclr' / 'peclr_resnet18_1xb4-4it_freihand-64px.py'
FINETUNE = ROOT / 'configs' / 'freihand3d' / 'td-reg25d_res18_1xb8-1e_freihand3d-64x64.py'
LOSS = re.compile(r'\bloss: (\S+)')


def _enable() -> None:
    cpu_distributed.skip_cuda_set_device_on_cpu()
    cpu_distributed.drop_ddp_device_ids_on_cpu()


# --- the shim itself: what it changes on the CPU, and that it hands over to mmengine with an accelerator ---

@pytest.fixture
def device(monkeypatch, request):
    import mmengine.device
    monkeypatch.setattr(mmengine.device, 'get_device', lambda: request.param)
    return request.param


def test_enable_is_idempotent():
    import mmengine.dist.utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel
    _enable()
    init, ddp = dist_utils._init_dist_pytorch, MMDistributedDataParallel.__init__
    _enable()
    assert dist_utils._init_dist_pytorch is init and MMDistributedDataParallel.__init__ is ddp
    # one layer over mmengine's own functions, not a wrapper of a wrapper
    assert not hasattr(init.__wrapped__, '__wrapped__') and not hasattr(ddp.__wrapped__, '__wrapped__')


@pytest.mark.parametrize('device', ['cpu', 'cuda'], indirect=True)
def test_pytorch_launcher_skips_set_device_only_on_cpu(device, monkeypatch):
    import mmengine.dist.utils as dist_utils
    _enable()
    calls = []
    monkeypatch.setattr(torch.cuda, 'set_device', lambda i: calls.append(('set_device', i)))
    monkeypatch.setattr(torch.distributed, 'init_process_group', lambda **kw: calls.append(('init', kw)))
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('LOCAL_RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setattr(dist_utils.mp, 'set_start_method', lambda *a, **k: None)  # keep pytest's start method
    dist_utils.init_dist('pytorch', backend='gloo', timeout=60)  # the entry point the Runner calls
    expected = [('init', {'backend': 'gloo', 'timeout': datetime.timedelta(seconds=60)})]
    assert calls == ([('set_device', 1)] if device == 'cuda' else []) + expected


@pytest.mark.parametrize('device', ['cpu', 'cuda'], indirect=True)
def test_ddp_wrapper_drops_device_ids_only_on_cpu(device, monkeypatch):
    from mmengine.model.wrappers import MMDistributedDataParallel
    from torch.nn.parallel import DistributedDataParallel
    _enable()
    seen = {}

    def fake_ddp_init(self, module, **kwargs):  # torch's DDP would need a process group
        torch.nn.Module.__init__(self)
        seen.update(kwargs)

    monkeypatch.setattr(DistributedDataParallel, '__init__', fake_ddp_init)
    MMDistributedDataParallel(module=torch.nn.Linear(2, 2), device_ids=[1], broadcast_buffers=False)
    assert seen == ({'device_ids': [1], 'broadcast_buffers': False} if device == 'cuda'
                    else {'broadcast_buffers': False})


# --- end to end: torchrun --nproc_per_node 2 <upstream train.py> <tiny config> --launcher pytorch ---

@pytest.fixture(scope='module')
def tiny_freihand(tmp_path_factory) -> Path:
    return write_freihand(tmp_path_factory.mktemp('freihand64'), num_train=8, num_eval=4, size=64)


def _torchrun(library: str, config: Path, work: Path, options: list[str]) -> None:
    train = Path(importlib.import_module(library).__file__).parent / '.mim' / 'tools' / 'train.py'
    # CUDA hidden: this is the CPU path (on a GPU machine mmengine would put both ranks on GPUs instead).
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
           str(train), str(config), '--launcher', 'pytorch', '--work-dir', str(work),
           '--cfg-options', *options, 'log_level=DEBUG']  # DEBUG: every rank writes its own log file
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


def _rank_losses(work: Path, train_line: str) -> dict[int, list[float]]:
    """rank -> the losses its own log file reports (each rank logs its local loss)."""
    out = {}
    for log in work.glob('*/*_rank*.log'):
        rank = int(re.search(r'_rank(\d+)\.log$', log.name).group(1))
        lines = [line for line in log.read_text().splitlines() if train_line in line]
        out[rank] = [float(LOSS.search(line).group(1)) for line in lines]
    return out


def _checkpoint(path: Path) -> dict:
    assert path.is_file(), sorted(p.name for p in path.parent.iterdir())
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])  # saved unwrapped, loadable anywhere
    return ckpt


@pytest.mark.slow
def test_torchrun_two_ranks_pretrain(tiny_freihand, tmp_path):
    import peclr_mm.selfsup  # noqa: F401  (safe-loading allow-list for the checkpoint)
    work = tmp_path / 'work'
    _torchrun('mmpretrain', PRETRAIN, work, [
        f'train_dataloader.dataset.data_root={tiny_freihand}', 'train_cfg.max_iters=2',
        'default_hooks.checkpoint.interval=2'])
    losses = _rank_losses(work, 'Iter(train)')
    assert sorted(losses) == [0, 1], losses
    for rank, values in losses.items():
        assert len(values) == 2 and all(math.isfinite(v) for v in values), (rank, values)
    ckpt = _checkpoint(work / 'iter_2.pth')
    assert ckpt['meta']['iter'] == 2 and any(k.startswith('neck.') for k in ckpt['state_dict'])


@pytest.mark.slow
def test_torchrun_two_ranks_finetune(tiny_freihand, tmp_path):
    import peclr_mm.pose  # noqa: F401
    work = tmp_path / 'work'
    _torchrun('mmpose', FINETUNE, work, [f'{split}_dataloader.dataset.data_root={tiny_freihand}'
                                         for split in ('train', 'val', 'test')])
    losses = _rank_losses(work, 'Epoch(train)')
    assert sorted(losses) == [0, 1], losses
    for rank, values in losses.items():
        assert values and all(math.isfinite(v) for v in values), (rank, values)
    ckpt = _checkpoint(work / 'epoch_1.pth')
    assert ckpt['meta']['epoch'] == 1 and any(k.startswith('head.') for k in ckpt['state_dict'])
    rank0 = next(work.glob('*/*_rank0.log')).read_text()
    assert 'freihand/PA-EPE' in rank0  # validation gathered both ranks' predictions and scored them
