"""Multi-process training on the CPU through mmengine's ``pytorch`` launcher (torchrun + ``--launcher pytorch``).

mmengine 0.10.x (checked 0.10.7) assumes a GPU on that path in two places, so a CPU run stops before its first
iteration:

1. ``mmengine.dist.utils._init_dist_pytorch`` calls ``torch.cuda.set_device(LOCAL_RANK)`` unconditionally
   (``RuntimeError: Found no NVIDIA driver``; on a CPU-only torch build: ``Torch not compiled with CUDA``):
   :func:`skip_cuda_set_device_on_cpu`;
2. ``Runner.wrap_model`` builds ``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``, and torch's DDP
   refuses ``device_ids`` for a module whose parameters are on the CPU: :func:`drop_ddp_device_ids_on_cpu`.

Each replacement decides at call time and hands over to mmengine's own code unchanged unless mmengine runs on
the CPU (``mmengine.device.get_device() == 'cpu'``: no CUDA/NPU/MLU/MUSA/MPS device, e.g. a CPU machine or
``CUDA_VISIBLE_DEVICES=-1``), so on a GPU machine it does nothing. The process-group backend stays the
config's ``env_cfg.dist_cfg.backend``: on the CPU it must be ``gloo`` (the tiny configs set it; otherwise pass
``--cfg-options env_cfg.dist_cfg.backend=gloo``). The slurm and mpi launchers are not covered (on CPU nodes,
run torchrun under ``srun`` with ``--launcher pytorch`` instead); see docs/distributed.md. Standard library
only at import.
"""
from __future__ import annotations

import functools
from typing import Callable

from ._patching import upstream_patch, wrap_upstream

LAUNCHER_TARGET = 'mmengine.dist.utils._init_dist_pytorch'
DDP_TARGET = 'mmengine.model.wrappers.distributed.MMDistributedDataParallel.__init__'


def _on_cpu() -> bool:
    from mmengine.device import get_device
    return get_device() == 'cpu'


def _skip_cuda_set_device(init_pytorch: Callable) -> Callable:
    """mmengine's ``_init_dist_pytorch`` (``init_pytorch``) minus ``torch.cuda.set_device`` on the CPU."""
    @functools.wraps(init_pytorch)
    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if init_backend != 'torch' or not _on_cpu():
            return init_pytorch(backend, init_backend=init_backend, **kwargs)
        import torch.distributed as torch_dist
        # mmengine's own call minus torch.cuda.set_device (RANK/WORLD_SIZE/MASTER_* come from torchrun).
        torch_dist.init_process_group(backend=backend, **kwargs)
    return _init_dist_pytorch


def _drop_device_ids(ddp_init: Callable) -> Callable:
    """``MMDistributedDataParallel.__init__`` (``ddp_init``) without ``device_ids``/``output_device`` for a
    CPU module on the CPU."""
    @functools.wraps(ddp_init)
    def __init__(self, module, *args, **kwargs):
        if _on_cpu() and all(p.device.type == 'cpu' for p in module.parameters()):
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        ddp_init(self, module, *args, **kwargs)
    return __init__


def needs_cpu_distributed() -> bool:
    """Whether the replacements are installed: always (each decides at call time whether mmengine is on
    the CPU, and otherwise calls mmengine's own function unchanged)."""
    return True


@upstream_patch((LAUNCHER_TARGET,), library='mmengine', versions='0.10.x (checked 0.10.7)',
                reason="--launcher pytorch calls torch.cuda.set_device on a CPU machine",
                needed=needs_cpu_distributed)
def skip_cuda_set_device_on_cpu() -> bool:
    """On the CPU, ``_init_dist_pytorch`` is mmengine's own call minus ``torch.cuda.set_device``.

    Upstream defect: mmengine 0.10.x's ``_init_dist_pytorch`` calls ``torch.cuda.set_device(LOCAL_RANK)``
    whatever the device, so ``--launcher pytorch`` fails on a CPU machine. Idempotent; ``__wrapped__`` is
    mmengine's function, called unchanged with an accelerator.

    Returns:
        bool: whether the replacement was installed now.
    """
    # a module attribute: mmengine's init_dist looks it up there
    return wrap_upstream(needs_cpu_distributed, LAUNCHER_TARGET, _skip_cuda_set_device)


@upstream_patch((DDP_TARGET,), library='mmengine', versions='0.10.x (checked 0.10.7)',
                reason="Runner.wrap_model passes device_ids, which torch's DDP refuses for a CPU module",
                needed=needs_cpu_distributed)
def drop_ddp_device_ids_on_cpu() -> bool:
    """On the CPU, ``MMDistributedDataParallel(module, device_ids=..., output_device=...)`` drops both.

    Upstream defect: mmengine 0.10.x's ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` whatever the
    device, and torch's DDP refuses ``device_ids`` for a CPU module. Idempotent; ``__wrapped__`` is mmengine's
    ``__init__``, called unchanged with an accelerator or a module with parameters off the CPU.

    Returns:
        bool: whether the replacement was installed now.
    """
    return wrap_upstream(needs_cpu_distributed, DDP_TARGET, _drop_device_ids)
