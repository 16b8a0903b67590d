"""Multi-process training on CPU through mmengine's ``pytorch`` launcher (torchrun + ``--launcher pytorch``).

mmengine 0.10.7 assumes a GPU on that path in two places, so a CPU run stops before its first iteration:

1. ``mmengine.dist.utils._init_dist_pytorch`` calls ``torch.cuda.set_device(LOCAL_RANK)`` unconditionally
   (``RuntimeError: Found no NVIDIA driver``; on a CPU-only torch build: ``Torch not compiled with CUDA``);
2. ``Runner.wrap_model`` builds ``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``, and torch's DDP
   refuses ``device_ids`` for a module whose parameters are on the CPU.

:func:`enable_cpu_distributed` wraps exactly these two calls. Each wrapper decides at call time and hands
over to mmengine's own code unchanged unless mmengine runs on the CPU (``mmengine.device.get_device() ==
'cpu'``: no CUDA/NPU/MLU/MUSA/MPS device, e.g. a CPU machine or ``CUDA_VISIBLE_DEVICES=-1``), so on a GPU
machine it does nothing. On the CPU, (1) skips ``set_device`` and calls ``init_process_group`` as mmengine
would, and (2) drops ``device_ids``/``output_device``, which torch requires for CPU modules. The process-group
backend stays the config's ``env_cfg.dist_cfg.backend``: on the CPU it must be ``gloo`` (the tiny configs
set it; otherwise pass ``--cfg-options env_cfg.dist_cfg.backend=gloo``).

Both halves (``peclr_mm.selfsup``, ``peclr_mm.pose``) call :func:`enable_cpu_distributed` on import, so every
config with their ``custom_imports`` gets it. The slurm and mpi launchers are not covered (on CPU nodes, run
torchrun under ``srun`` with ``--launcher pytorch`` instead); see docs/distributed.md.
"""
from __future__ import annotations

import functools

__all__ = ['enable_cpu_distributed']

_FLAG = '_peclr_mm_cpu_distributed'


def _on_cpu() -> bool:
    from mmengine.device import get_device
    return get_device() == 'cpu'


def enable_cpu_distributed() -> None:
    """Let mmengine's ``pytorch`` launcher and its DDP wrapper run on the CPU (gloo). Idempotent; the
    wrappers delegate to mmengine unchanged whenever mmengine sees an accelerator."""
    import mmengine.dist.utils as dist_utils
    import torch.distributed as torch_dist
    from mmengine.model.wrappers import MMDistributedDataParallel

    init_pytorch = dist_utils._init_dist_pytorch
    if not getattr(init_pytorch, _FLAG, False):
        @functools.wraps(init_pytorch)
        def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
            if init_backend != 'torch' or not _on_cpu():
                return init_pytorch(backend, init_backend=init_backend, **kwargs)
            # mmengine's own call minus torch.cuda.set_device (RANK/WORLD_SIZE/MASTER_* come from torchrun).
            torch_dist.init_process_group(backend=backend, **kwargs)

        setattr(_init_dist_pytorch, _FLAG, True)
        dist_utils._init_dist_pytorch = _init_dist_pytorch  # init_dist looks it up in this module

    ddp_init = MMDistributedDataParallel.__init__
    if not getattr(ddp_init, _FLAG, False):
        @functools.wraps(ddp_init)
        def __init__(self, module, *args, **kwargs):
            if _on_cpu() and all(p.device.type == 'cpu' for p in module.parameters()):
                kwargs.pop('device_ids', None)
                kwargs.pop('output_device', None)
            ddp_init(self, module, *args, **kwargs)

        setattr(__init__, _FLAG, True)
        MMDistributedDataParallel.__init__ = __init__
