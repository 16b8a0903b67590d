"""Backbone export: pretraining checkpoints and the official PeCLR release -> mmpose-loadable weights.

Output format: ``{'state_dict': {'backbone.<name>': tensor}, 'meta': {...}}`` with plain tensors and strings
only, so torch's default ``weights_only=True`` loading accepts it, and mmpose's
``init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=OUT)`` loads it into its ``ResNet``.
Files are written atomically (temporary file in the target folder, then ``os.replace``).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Dict

import torch

from peclr_mm.checkpoint import PREFIX, extract_backbone, load_checkpoint_safe, state_dict_of  # noqa: F401
from peclr_mm.fileio import atomic_write

# torchvision ResNet: blocks in layer1..4 -> depth (mmpretrain/mmpose ResNet use the same parameter names).
_RESNET_DEPTHS = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34, (3, 8, 36, 3): 152, (3, 4, 23, 3): 101}


def resnet_depth(sd: Dict[str, torch.Tensor]) -> int:
    """Depth of a torchvision-named ResNet state_dict, from its block counts and block type."""
    blocks = tuple(len({k.split('.')[1] for k in sd if k.startswith(f'layer{i}.')}) for i in range(1, 5))
    if blocks == (3, 4, 6, 3):
        return 50 if any(k.endswith('conv3.weight') for k in sd) else 34
    if blocks not in _RESNET_DEPTHS:
        raise ValueError(f'not a torchvision ResNet state_dict: blocks per stage {blocks}')
    return _RESNET_DEPTHS[blocks]


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
