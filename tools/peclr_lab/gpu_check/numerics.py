"""Numerical checks, run in a subprocess (``python -m peclr_lab.gpu_check.numerics OUT ...``): PeCLR's loss and
gradients of the paper's ResNet-50 on the device in fp32 (TF32 off) and bf16 autocast against float64 on the
CPU, and the cross-rank gather (:class:`~peclr_mm.selfsup.gather._AllGather`) and PeCLR's loss through it
under a 1-process group."""
from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Sequence

from peclr_mm.fileio import atomic_write_json

from ..config_options import config_value
from .device import environment
from .options import configs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rel(a, b) -> float:
    import torch
    a, b = a.detach().double().cpu().flatten(), b.detach().double().cpu().flatten()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-30))


def _batch(n: int, size: int, seed: int = 0):
    """Two random views (n, 3, size, size) and random similarity transforms (n, 2, 3, 3), float64, in
    normalised view coordinates (``aug_norm``; shift std a tenth of the view side)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(n, 3, size, size, generator=g, dtype=torch.float64) for _ in range(2)]
    th = (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * 1.5
    s = 0.8 + 0.4 * torch.rand(n, 2, generator=g, dtype=torch.float64)
    aug = torch.zeros(n, 2, 3, 3, dtype=torch.float64)
    aug[..., 0, 0], aug[..., 0, 1] = s * torch.cos(th), -s * torch.sin(th)
    aug[..., 1, 0], aug[..., 1, 1] = s * torch.sin(th), s * torch.cos(th)
    aug[..., :2, 2] = torch.randn(n, 2, 2, generator=g, dtype=torch.float64) * 0.1
    aug[..., 2, 2] = 1
    return views, aug


def _loss_grads(model, views, aug, device: str, dtype, autocast: bool = False):
    """PeCLR's loss and all parameter gradients (float64, CPU) of ``model`` on ``device`` in ``dtype``
    (inputs and matrices), optionally under bf16 autocast."""
    import torch
    from mmpretrain.structures import DataSample
    samples = []
    for a in aug:
        ds = DataSample()
        ds.set_field(a.to(device=device, dtype=dtype), 'aug_norm')
        samples.append(ds)
    model.zero_grad(set_to_none=True)
    inputs = [v.to(device=device, dtype=dtype) for v in views]
    with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
        loss = model.loss(inputs, samples)['loss']
    loss.float().backward()
    grads = torch.cat([p.grad.detach().double().cpu().flatten() for p in model.parameters() if p.grad is not None])
    return loss.detach().double().cpu(), grads


def numerics(model_options: Sequence[str], n: int, size: int, device: str, backend: str) -> dict:
    """PeCLR's loss and gradients on ``device`` against float64 on the CPU; the gather under a 1-process
    ``backend`` group. Returns the errors, the tolerances and the verdicts."""
    import copy
    from unittest import mock

    import torch
    import torch.distributed as dist
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import peclr_mm.selfsup  # noqa: F401  (registers PeCLR)
    from peclr_mm.selfsup import gather as gather_mod
    from peclr_mm.selfsup import peclr as peclr_mod

    init_default_scope('mmpretrain')
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    cfg_model = config_value(configs()['peclr'], list(model_options), 'model')
    out: dict = dict(device=device, backend=backend, images=n, size=size,
                     model=f'{cfg_model.backbone.type}-{cfg_model.backbone.get("depth", "")}')
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg_model))  # same weights on both devices; BN in train mode
    model.init_weights()
    model.train()
    views, aug = _batch(n, size)
    t0 = time.time()
    ref_loss, ref_grads = _loss_grads(copy.deepcopy(model).double(), views, aug, 'cpu', torch.float64)
    out['cpu_float64_s'] = round(time.time() - t0, 2)
    dev_model = copy.deepcopy(model).to(device)
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    loss32, grads32 = _loss_grads(dev_model, views, aug, device, torch.float32)
    lossbf, gradsbf = _loss_grads(dev_model, views, aug, device, torch.float32, autocast=True)
    # fp32 gradients through train-mode BN are ill-conditioned at initialisation (the batch-statistics backward
    # cancels): ResNet-50 on 16 pairs at 128 px gives ~2e-2 against float64 on the CPU in fp32 too (eval-mode
    # BN: ~6e-4). So the device's fp32 gradients are held to the CPU's own fp32 error (x3), the loss to 1e-4.
    cpu32_grads = grads32 if device == 'cpu' else _loss_grads(copy.deepcopy(model), views, aug, 'cpu',
                                                               torch.float32)[1]
    out['loss'] = dict(cpu_float64=float(ref_loss), fp32=float(loss32), bf16_autocast=float(lossbf))
    out['rel_err'] = dict(loss_fp32=_rel(loss32, ref_loss), grads_fp32=_rel(grads32, ref_grads),
                          grads_cpu_fp32=_rel(cpu32_grads, ref_grads), loss_bf16=_rel(lossbf, ref_loss),
                          grads_bf16=_rel(gradsbf, ref_grads))
    out['grads_cosine'] = dict(fp32=float(torch.nn.functional.cosine_similarity(grads32, ref_grads, dim=0)),
                               bf16=float(torch.nn.functional.cosine_similarity(gradsbf, ref_grads, dim=0)))
    tol = dict(loss_fp32=1e-4, grads_fp32=max(1e-4, 3 * out['rel_err']['grads_cpu_fp32']), loss_bf16=5e-2)
    out['tol'] = tol
    checks = {k: out['rel_err'][k] <= v for k, v in tol.items()}

    # The gather under a real 1-process group: forward concatenates (here: copies) exactly, backward
    # all-reduces exactly, and PeCLR's loss / gradients through the forced gather equal those without it.
    dist.init_process_group(backend, init_method=f'tcp://127.0.0.1:{_free_port()}', rank=0, world_size=1)
    try:
        x = torch.randn(2 * n, 128, device=device, requires_grad=True)
        y = torch.cat(gather_mod._AllGather.apply(x), 0)
        g = torch.randn_like(y)
        y.backward(g)
        checks['gather_forward_exact'] = bool(torch.equal(y.detach(), x.detach()))
        checks['gather_backward_exact'] = bool(torch.equal(x.grad, g))
        checks['gather_identity_at_world_1'] = gather_mod.all_gather_with_grad(x) is x

        def forced(z):
            return torch.cat(gather_mod._AllGather.apply(z), 0)

        with mock.patch.object(peclr_mod, 'all_gather_with_grad', forced):
            g_loss, g_grads = _loss_grads(dev_model, views, aug, device, torch.float32)
        # against the fp32 loss above: the same call without the forced gather
        out['rel_err']['gather_loss'] = _rel(g_loss, loss32)
        out['rel_err']['gather_grads'] = _rel(g_grads, grads32)
        checks['gather_loss'] = out['rel_err']['gather_loss'] <= 1e-6
        checks['gather_grads'] = out['rel_err']['gather_grads'] <= 1e-6
        out['backend_seen'] = dist.get_backend()
    finally:
        dist.destroy_process_group()
    if device == 'cuda':
        out['max_memory_allocated_mib'] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    out['checks'] = checks
    out['ok'] = all(checks.values())
    return out


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog='python -m peclr_lab.gpu_check.numerics')
    p.add_argument('out')
    p.add_argument('--device', default='cuda')
    p.add_argument('--backend', default='nccl')
    p.add_argument('--images', type=int, default=16)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--model-options', nargs='*', default=[])
    a = p.parse_args(argv)
    try:
        res = dict(environment=environment())
    except Exception as e:  # noqa: BLE001 - the versions are informational; the checks still run
        res = dict(environment=dict(error=f'{type(e).__name__}: {e}'))
    atomic_write_json(a.out, res)  # the environment even if the checks crash
    res['numerics'] = numerics(a.model_options, a.images, a.size, a.device, a.backend)
    atomic_write_json(a.out, res)
    print(json.dumps(res['numerics']['rel_err']))
    return 0 if res['numerics']['ok'] else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
