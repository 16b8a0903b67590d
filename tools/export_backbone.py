"""Export the backbone of a PeCLR/SimCLR pretraining checkpoint for mmpose fine-tuning.

    python tools/export_backbone.py work_dirs/peclr/epoch_100.pth peclr_rn50_backbone.pth

The output holds only ``backbone.*`` tensors (``{'state_dict': ..., 'meta': ...}``); use it in mmpose with
``init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint='peclr_rn50_backbone.pth')``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from peclr_mm.selfsup.export import PREFIX, export_pretrained, run_tool  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='mmpretrain pretraining checkpoint (.pth)')
    parser.add_argument('out', help='output backbone weights (.pth)')
    parser.add_argument('--prefix', default=PREFIX, help='state_dict prefix of the backbone (kept in the output)')
    args = parser.parse_args(argv)
    return run_tool(lambda: export_pretrained(args.checkpoint, args.out, args.prefix))


if __name__ == '__main__':
    sys.exit(main())
