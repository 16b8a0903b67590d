"""All-gather across ranks with the correct gradient.

mmpretrain's ``GatherLayer`` returns only ``grads[rank]`` in backward, dropping the terms that the other
ranks' losses contribute to this rank's features. Every rank computes the loss on the gathered batch, so
the gradient of this rank's slice is the **sum** over ranks of their gradients for it: all-reduce, then
take this rank's slice. With DDP's gradient averaging this equals single-process training on the
concatenated batch.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.distributed as dist


class _AllGather(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:
        g = torch.stack(grads)
        dist.all_reduce(g)  # sum of every rank's gradient w.r.t. every slice
        return g[dist.get_rank()]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (B, ...) from all ranks along dim 0 -> (world_size * B, ...); identity without
    an initialised process group. All ranks must pass the same shape."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return torch.cat(_AllGather.apply(x), dim=0)
