"""Convert an official PeCLR release (torchvision ResNet state_dict) to mmpose-loadable backbone weights.

    python tools/convert_official_peclr.py peclr_rn50_yt3dh_fh.pth peclr_rn50_backbone.pth

The release may be a torchvision ResNet-18, 34, 50, 101 or 152: the depth written into the output (and printed)
is read from the weights' block type and block counts, and every tensor must have the name and shape of that
torchvision ResNet; anything else (a Wide ResNet, a ResNeXt, a file that is not a ResNet) is one error line.
The conversion is checked numerically before writing: torchvision's ResNet with the original weights and
mmpretrain's ResNet with the converted ones must give the same last-stage features for a random input
(``--no-check`` skips this). The output is ``{'state_dict': {'backbone.*': ...}, 'meta': ...}``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from peclr_mm.selfsup.export import convert_release, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('release', help='official PeCLR weights (torchvision ResNet state_dict), e.g. peclr_rn50_yt3dh_fh.pth')
    parser.add_argument('out', help='output backbone weights (.pth)')
    parser.add_argument('--no-check', action='store_true', help='skip the numerical check')
    args = parser.parse_args(argv)
    return run_tool(lambda: convert_release(args.release, args.out, check=not args.no_check))


if __name__ == '__main__':
    sys.exit(main())
