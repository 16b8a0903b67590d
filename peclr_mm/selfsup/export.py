"""Backbone export: any mmengine checkpoint with a ``backbone.*`` (pretraining, a fine-tuned mmpose model) and the
official PeCLR release -> mmpose-loadable weights.

Output format: ``{'state_dict': {'backbone.<name>': tensor}, 'meta': {...}}`` with plain tensors and strings
only, so torch's default ``weights_only=True`` loading accepts it, and mmpose's
``init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=OUT)`` loads it into its ``ResNet``.
Files are written atomically (temporary file in the target folder, then ``os.replace``).
"""
from __future__ import annotations

import os
import sys
from collections import OrderedDict
from typing import Callable, Dict

import torch

from peclr_mm.checkpoint import (
    PREFIX,
    UnsafeCheckpointError,
    load_checkpoint_safe,
    split_backbone,
    state_dict_of,
)
from peclr_mm.fileio import atomic_write

# torchvision ResNet: (block type, blocks in layer1..4) -> depth (mmpretrain/mmpose ResNet use the same names).
_RESNET_DEPTHS = {('BasicBlock', (2, 2, 2, 2)): 18, ('BasicBlock', (3, 4, 6, 3)): 34,
                  ('Bottleneck', (3, 4, 6, 3)): 50, ('Bottleneck', (3, 4, 23, 3)): 101,
                  ('Bottleneck', (3, 8, 36, 3)): 152}


def _shape(t: torch.Tensor | torch.Size) -> tuple:
    """A tensor's (or a size's) shape as a plain tuple, as printed in errors."""
    return tuple(t.shape if isinstance(t, torch.Tensor) else t)


def resnet_depth(sd: Dict[str, torch.Tensor], path: str = 'state_dict') -> int:
    """Depth of a torchvision-named ResNet state_dict, from its block type (``conv3``: Bottleneck) and block
    counts per stage; every tensor must then have the name and shape of torchvision's ResNet-<depth> (``fc.*``
    and ``num_batches_tracked`` may be absent). One-line ``ValueError`` naming ``path`` and what was found."""
    import torchvision

    blocks = tuple(len({k.split('.')[1] for k in sd if k.startswith(f'layer{i}.')}) for i in range(1, 5))
    block = 'Bottleneck' if 'layer1.0.conv3.weight' in sd else 'BasicBlock'
    depth = _RESNET_DEPTHS.get((block, blocks))
    if depth is None:
        raise ValueError(f'{path}: not a torchvision ResNet-18/34/50/101/152 state_dict: {block} blocks per stage '
                         f'{blocks}')
    with torch.device('meta'):  # names and shapes only, nothing allocated
        ref = {k: v.shape for k, v in getattr(torchvision.models, f'resnet{depth}')().state_dict().items()
               if not k.startswith('fc.')}
    name = f"torchvision's ResNet-{depth} ({block} blocks {blocks})"
    missing = [k for k in ref if k not in sd and not k.endswith('num_batches_tracked')]
    if missing:
        raise ValueError(f'{path}: {len(missing)} tensors of {name} missing, e.g. "{missing[0]}"')
    extra = [k for k in sd if k not in ref and not k.startswith('fc.')]
    if extra:
        raise ValueError(f'{path}: {len(extra)} tensors that {name} does not have, e.g. "{extra[0]}"')
    wrong = [k for k in ref if k in sd and _shape(sd[k]) != _shape(ref[k])]
    if wrong:
        raise ValueError(f'{path}: {len(wrong)} of {len(ref)} tensors have other shapes than in {name}: first '
                         f'"{wrong[0]}" is {_shape(sd[wrong[0]])}, ResNet-{depth} has {_shape(ref[wrong[0]])} '
                         f'(not a plain ResNet-{depth})')
    return depth


def convert_official(path: str, prefix: str = PREFIX) -> Dict[str, torch.Tensor]:
    """Official PeCLR release (torchvision ResNet ``state_dict``, e.g. ``peclr_rn50_yt3dh_fh.pth``) ->
    backbone weights with mmpretrain/mmpose ResNet names (identical to torchvision's), ``fc`` dropped."""
    sd = state_dict_of(load_checkpoint_safe(path), path)
    for strip in ('encoder.', 'backbone.'):  # tolerate weights saved from a wrapper model
        if sd and all(k.startswith(strip) for k in sd):
            sd = OrderedDict((k[len(strip):], v) for k, v in sd.items())
    if 'conv1.weight' not in sd:
        raise ValueError(f'{path}: field "conv1.weight" missing: not a torchvision ResNet state_dict')
    return OrderedDict((prefix + k, v.detach().clone()) for k, v in sd.items() if not k.startswith('fc.'))


def check_distinct(src: str, out: str) -> None:
    """Refuse to write ``out`` over the file it is made from (the source would be lost)."""
    if os.path.realpath(src) == os.path.realpath(out) or (
            os.path.exists(out) and os.path.exists(src) and os.path.samefile(src, out)):
        raise ValueError(f'{out}: output is the input checkpoint; choose another output file')


def save_atomic(state_dict: Dict[str, torch.Tensor], out: str, meta: dict | None = None) -> None:
    """Write ``{'state_dict', 'meta'}`` to ``out`` atomically (no half-written file on failure)."""
    atomic_write(out, lambda f: torch.save({'state_dict': OrderedDict(state_dict), 'meta': dict(meta or {})}, f),
                 binary=True)


@torch.no_grad()
def check_conversion(converted: Dict[str, torch.Tensor], depth: int, size: int = 64, atol: float = 1e-4) -> float:
    """Max |difference| of the last-stage features of torchvision's ResNet-``depth`` and mmpretrain's
    ResNet, both with the converted weights (``backbone.*``; torchvision's own names), on a seeded random
    (2, 3, size, size) input: the names and the computation agree. Raises RuntimeError on any missing key but
    torchvision's ``fc`` or a difference beyond ``atol`` (relative to the features' scale)."""
    import torchvision
    from mmpretrain.models import ResNet

    plain = {k[len(PREFIX):]: v for k, v in converted.items()}
    tv = getattr(torchvision.models, f'resnet{depth}')()
    missing, unexpected = tv.load_state_dict(plain, strict=False)
    if unexpected or any(not k.startswith('fc.') for k in missing):
        raise RuntimeError(f'converted backbone does not match torchvision ResNet-{depth}: missing '
                           f'{[k for k in missing if not k.startswith("fc.")][:5]}, unexpected {unexpected[:5]}')
    mm = ResNet(depth=depth, out_indices=(3,))
    mm.load_state_dict(plain, strict=True)  # raises on any missing/unexpected key
    tv.eval(), mm.eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    ref = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
    diff = (mm(x)[0] - ref).abs().max().item()
    if not diff <= atol * max(1.0, ref.abs().max().item()):
        raise RuntimeError(f'converted backbone differs from torchvision ResNet-{depth} by {diff:.3g}')
    return diff


def export_pretrained(checkpoint: str, out: str, prefix: str = PREFIX) -> str:
    """``tools/export_backbone.py``: the ``prefix`` tensors of any checkpoint (pretraining, a fine-tuned mmpose
    model, an exported backbone) to ``out``; returns the line to print, naming the key groups left out."""
    check_distinct(checkpoint, out)
    kept, left = split_backbone(state_dict_of(load_checkpoint_safe(checkpoint), checkpoint), checkpoint, prefix)
    left_out = ', '.join(f'{n} {g}' for g, n in left.items())
    save_atomic(kept, out, meta=dict(source=os.path.basename(checkpoint), prefix=prefix, left_out=left_out,
                                     converter='peclr_mm export_backbone'))
    return f'wrote {len(kept)} {prefix}* tensors to {out}' + (f' (left out: {left_out})' if left_out else '')


def convert_release(release: str, out: str, check: bool = True) -> str:
    """``tools/convert_official_peclr.py``: an official release to ``out``; its depth and layout are read from
    the weights (:func:`resnet_depth`), then checked numerically (:func:`check_conversion`) unless ``check``
    is False; returns the line to print."""
    check_distinct(release, out)
    sd = convert_official(release)
    depth = resnet_depth({k[len(PREFIX):]: v for k, v in sd.items()}, release)
    try:
        msg = f', max |diff| vs torchvision {check_conversion(sd, depth):.2e}' if check else ''
    except RuntimeError as err:
        raise ValueError(f'{release}: {str(err).splitlines()[0]}') from None
    save_atomic(sd, out, meta=dict(source=os.path.basename(release), depth=str(depth),
                                   converter='peclr_mm convert_official_peclr'))
    return f'wrote ResNet-{depth} backbone ({len(sd)} tensors) to {out}{msg}'


def run_tool(job: Callable[[], str]) -> int:
    """Run an export for a command-line tool: its line on stdout and 0, or one ``error: ...`` line (the
    file and what is wrong with it) on stderr and 1."""
    try:
        line = job()
    except (OSError, ValueError, UnsafeCheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(line)
    return 0
