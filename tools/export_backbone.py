"""Export the backbone of a checkpoint (PeCLR/SimCLR pretraining or a fine-tuned mmpose model) for mmpose.

    python tools/export_backbone.py work_dirs/peclr/epoch_100.pth peclr_rn50_backbone.pth

Any mmengine checkpoint with ``backbone.*`` tensors works: a pretraining run (its ``neck.*``/``head.*`` are left
out), a fine-tuned top-down pose model (its ``head.*`` is left out) or an exported backbone. The output holds
only the ``backbone.*`` tensors (``{'state_dict': ..., 'meta': ...}``); the printed line says how many were
written and which key groups were left out. Use it in mmpose with
``init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint='peclr_rn50_backbone.pth')``.
"""
from __future__ import annotations

import argparse
import sys

from peclr_mm.selfsup.export import PREFIX, export_pretrained, run_tool


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='checkpoint (.pth) with backbone weights: pretraining, fine-tuned '
                        'pose model or exported backbone')
    parser.add_argument('out', help='output backbone weights (.pth); other key groups are left out')
    parser.add_argument('--prefix', default=PREFIX, help='state_dict prefix of the backbone (kept in the output)')
    args = parser.parse_args(argv)
    return run_tool(lambda: export_pretrained(args.checkpoint, args.out, args.prefix))


if __name__ == '__main__':
    sys.exit(main())
