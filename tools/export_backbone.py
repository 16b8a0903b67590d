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

from peclr_mm.checkpoint import UnsafeCheckpointError  # noqa: E402
from peclr_mm.selfsup.export import PREFIX, check_distinct, extract_backbone, save_atomic  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='mmpretrain pretraining checkpoint (.pth)')
    parser.add_argument('out', help='output backbone weights (.pth)')
    parser.add_argument('--prefix', default=PREFIX, help='state_dict prefix of the backbone (kept in the output)')
    args = parser.parse_args(argv)
    try:
        check_distinct(args.checkpoint, args.out)
        sd = extract_backbone(args.checkpoint, args.prefix)
        save_atomic(sd, args.out, meta=dict(source=osp.basename(args.checkpoint), prefix=args.prefix,
                                            converter='peclr_mm export_backbone'))
    except (OSError, ValueError, UnsafeCheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'wrote {len(sd)} tensors to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
