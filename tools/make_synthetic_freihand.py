"""Render synthetic hands in FreiHAND's exact layout (no download needed).

Example::

    python tools/make_synthetic_freihand.py data/synthetic_freihand --num-train 2000 --num-eval 400 \\
        --size 224 --seed 0 --workers 2

Writes training_{xyz,K,scale}.json, training/rgb (4 versions per sample), training/mask,
evaluation_{xyz,K,scale,verts}.json and evaluation/rgb, atomically (a temporary folder renamed at the
end). The FreiHAND dataset classes read the result unchanged.
"""
from __future__ import annotations

import argparse
import sys

from peclr_lab.synthetic.cli import run_writer, writer_parser


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-train", type=int, required=True, help="training samples (4 images each)")
    parser.add_argument("--num-eval", type=int, required=True, help="evaluation samples (1 image each)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (FreiHAND: 224)")
    parser.add_argument("--workers", type=int, default=1, help="processes to render with")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return writer_parser("make_synthetic_freihand.py", "Render synthetic hands in FreiHAND's layout.", _options,
                         "replace a dataset this tool wrote at OUT_DIR (its .peclr_mm_synthetic.json inside; "
                         "never a symbolic link or another folder)").parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.num_eval < 1:  # the project's FreiHAND readers refuse an empty evaluation split
        print(f"make_synthetic_freihand.py: error: --num-eval must be >= 1, got {args.num_eval}", file=sys.stderr)
        return 2
    from peclr_lab.synthetic import make_synthetic_freihand

    return run_writer("make_synthetic_freihand.py", lambda: make_synthetic_freihand(
        args.out_dir, args.num_train, args.num_eval, size=args.size, seed=args.seed, workers=args.workers,
        overwrite=args.overwrite, progress=not args.no_progress, quality=args.quality))


if __name__ == "__main__":
    sys.exit(main())
