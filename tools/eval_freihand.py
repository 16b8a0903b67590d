"""Score a Codalab-format FreiHAND ``pred.json`` like the official server (vectorised).

    python tools/eval_freihand.py PRED_JSON GT_DIR [--out DIR] [--set-name evaluation]

``PRED_JSON`` is ``[xyz_list, verts_list]`` in metres (21x3 keypoints and Vx3 vertices per sample, in
the order of ``GT_DIR/<set>_xyz.json``). ``GT_DIR`` holds ``<set>_xyz.json`` and, optionally,
``<set>_verts.json`` (without it mesh errors and F-scores are reported as -1). Writes
``DIR/scores.txt`` with the official keys and units (mean errors in cm) and ``DIR/pck_data.json``,
both atomically, and prints the scores as JSON. Any malformed input: a one-line error, exit status 1,
nothing written.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from peclr_mm.fileio import FreiHandFormatError, atomic_write_set  # noqa: E402
from peclr_mm.freihand import annotation_file, read_field, read_submission  # noqa: E402
from peclr_mm.freihand_eval import format_scores, freihand_scores  # noqa: E402


def evaluate(pred_file: str | Path, gt_dir: str | Path, set_name: str = "evaluation"
             ) -> tuple[dict[str, float], dict[str, list]]:
    """Load ground truth and prediction, validate them and return ``freihand_scores``."""
    gt_xyz = read_field(annotation_file(gt_dir, set_name, "xyz"), "xyz")
    verts_file = annotation_file(gt_dir, set_name, "verts")
    gt_verts = read_field(verts_file, "verts", len(gt_xyz)) if os.path.isfile(verts_file) else None
    xyz, verts = read_submission(pred_file, len(gt_xyz))
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as non-finite scores, refused below
        return freihand_scores(gt_xyz, xyz, gt_verts, verts if gt_verts is not None else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pred_json", help="Codalab-format prediction file [xyz_list, verts_list]")
    parser.add_argument("gt_dir", help="folder with <set>_xyz.json (and optionally <set>_verts.json)")
    parser.add_argument("--out", default=None, help="output folder (default: the folder of PRED_JSON)")
    parser.add_argument("--set-name", default="evaluation", help="annotation prefix (default: evaluation)")
    args = parser.parse_args(argv)
    try:
        scores, curves = evaluate(args.pred_json, args.gt_dir, args.set_name)
        bad = [k for k, v in scores.items() if not np.isfinite(v)]
        if bad:
            raise FreiHandFormatError(f"{args.pred_json}: scores {bad} are not finite (predictions too large "
                                      "to score: values must be metres)")
    except FreiHandFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path(args.pred_json).resolve().parent
    try:  # both files or neither: a failed write leaves the old set untouched
        atomic_write_set({out / "scores.txt": lambda f: f.write(format_scores(scores)),
                          out / "pck_data.json": lambda f: json.dump(curves, f)})
    except OSError as e:
        print(f"error: {out}: cannot write scores.txt / pck_data.json there ({e.strerror or e})", file=sys.stderr)
        return 1
    print(json.dumps(scores, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
