"""Convert an official PeCLR release (torchvision ResNet state_dict) to mmpose-loadable backbone weights.

    python tools/convert_official_peclr.py peclr_rn50_yt3dh_fh.pth peclr_rn50_backbone.pth

The conversion is checked numerically before writing: torchvision's ResNet with the original weights and
mmpretrain's ResNet with the converted ones must give the same last-stage features for a random input
(``--no-check`` skips this). The output is ``{'state_dict': {'backbone.*': ...}, 'meta': ...}``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from peclr_mm.checkpoint import UnsafeCheckpointError  # noqa: E402
from peclr_mm.selfsup.export import (  # noqa: E402
    PREFIX,
    check_distinct,
    convert_official,
    resnet_depth,
    save_atomic,
)


@torch.no_grad()
def check(converted: dict, original_path: str, size: int = 64, atol: float = 1e-4) -> float:
    """Max |difference| of layer4 features between torchvision (original) and mmpretrain (converted)."""
    import torchvision
    from mmpretrain.models import ResNet

    from peclr_mm.selfsup.export import load_checkpoint_safe

    plain = {k[len(PREFIX):]: v for k, v in converted.items()}
    depth = resnet_depth(plain)
    tv = getattr(torchvision.models, f'resnet{depth}')()
    orig = load_checkpoint_safe(original_path)
    orig = orig.get('state_dict', orig)
    orig = {k.split('.', 1)[1] if k.split('.', 1)[0] in ('module', 'encoder', 'backbone') else k: v
            for k, v in orig.items()}
    tv.load_state_dict({k: v for k, v in orig.items() if not k.startswith('fc.')}, strict=False)
    mm = ResNet(depth=depth, out_indices=(3,))
    mm.load_state_dict(plain, strict=True)  # raises on any missing/unexpected key
    tv.eval(), mm.eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    ref = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
    diff = (mm(x)[0] - ref).abs().max().item()
    if not diff <= atol * max(1.0, ref.abs().max().item()):
        raise RuntimeError(f'{original_path}: converted backbone differs from the original by {diff:.3g}')
    return diff


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('release', help='official PeCLR weights, e.g. peclr_rn50_yt3dh_fh.pth')
    parser.add_argument('out', help='output backbone weights (.pth)')
    parser.add_argument('--no-check', action='store_true', help='skip the numerical check')
    args = parser.parse_args(argv)
    try:
        check_distinct(args.release, args.out)
        sd = convert_official(args.release)
        depth = resnet_depth({k[len(PREFIX):]: v for k, v in sd.items()})
        msg = ''
        if not args.no_check:
            msg = f', max |diff| vs torchvision {check(sd, args.release):.2e}'
        save_atomic(sd, args.out, meta=dict(source=osp.basename(args.release), depth=str(depth),
                                            converter='peclr_mm convert_official_peclr'))
    except (OSError, ValueError, UnsafeCheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'wrote ResNet-{depth} backbone ({len(sd)} tensors) to {args.out}{msg}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
