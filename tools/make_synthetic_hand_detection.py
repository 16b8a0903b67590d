"""Render a COCO-format hand detection set of synthetic composites (peclr_lab.synthetic.detection).

Example::

    python tools/make_synthetic_hand_detection.py data/synthetic_hand_det --num-train 4000 --num-val 300 \\
        --seed 0

Writes train/ and val/ (width x height JPEGs, 0-2 hands each, random position and scale) and
annotations/{train,val}.json (COCO boxes of each hand's silhouette, plus its 21 keypoints), atomically (a
temporary folder renamed at the end). mmdet's CocoDataset reads the result unchanged.
"""
from __future__ import annotations

import argparse
import sys

from peclr_lab.synthetic.cli import run_writer, writer_parser


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-train", type=int, required=True, help="training images")
    parser.add_argument("--num-val", type=int, required=True, help="validation images (held-out streams)")
    parser.add_argument("--width", type=int, default=320, help="image width in pixels")
    parser.add_argument("--height", type=int, default=240, help="image height in pixels")
    parser.add_argument("--hand-sizes", type=int, nargs=2, default=(48, 128), metavar=("MIN", "MAX"),
                        help="side of each hand's square crop in pixels (the hand fills 55-90%% of it)")
    parser.add_argument("--max-hands", type=int, default=2, help="hands per image: 0 to this")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return writer_parser("make_synthetic_hand_detection.py",
                         "Render synthetic hand-detection composites in COCO format.", _options,
                         "replace a set this tool wrote at OUT_DIR (its marker file inside; nothing else)"
                         ).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from peclr_lab.synthetic import make_synthetic_hand_detection

    return run_writer("make_synthetic_hand_detection.py", lambda: make_synthetic_hand_detection(
        args.out_dir, args.num_train, args.num_val, seed=args.seed, width=args.width, height=args.height,
        hand_sizes=tuple(args.hand_sizes), max_hands=args.max_hands, overwrite=args.overwrite,
        progress=not args.no_progress, quality=args.quality))


if __name__ == "__main__":
    sys.exit(main())
