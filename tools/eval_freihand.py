"""Score a Codalab-format FreiHAND ``pred.json`` like the official server (vectorised).

    python tools/eval_freihand.py PRED_JSON GT_DIR [--out DIR] [--set-name evaluation]

``PRED_JSON`` is ``[xyz_list, verts_list]`` in metres (21x3 keypoints and Vx3 vertices per sample, in
the order of ``GT_DIR/<set>_xyz.json``); ``[xyz_list]`` scores the keypoints only (the mesh is reported as
not scored, -1). Keypoints that look like millimetres are scored with a warning line. ``GT_DIR`` holds ``<set>_xyz.json`` and, optionally,
``<set>_verts.json`` (without it mesh errors and mesh F-scores are reported as -1). Writes
``DIR/scores.txt`` with the official keys and units (mean errors in cm) and ``DIR/pck_data.json``,
both atomically, and prints the scores as JSON. Any malformed input: a one-line error, exit status 1,
nothing written.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from peclr_mm.freihand import FreiHandFormatError
from peclr_mm.freihand.scorer import FreiHandScoringWarning, evaluate_files, write_scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pred_json", help="Codalab-format prediction file [xyz_list, verts_list]")
    parser.add_argument("gt_dir", help="folder with <set>_xyz.json (and optionally <set>_verts.json)")
    parser.add_argument("--out", default=None, help="output folder (default: the folder of PRED_JSON)")
    parser.add_argument("--set-name", default="evaluation", help="annotation prefix (default: evaluation)")
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FreiHandScoringWarning)
            scores, curves = evaluate_files(args.pred_json, args.gt_dir, args.set_name)
    except FreiHandFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    out = Path(args.out) if args.out else Path(args.pred_json).resolve().parent
    try:  # both files or neither: a failed write leaves the old set untouched
        write_scores(out, scores, curves)
    except OSError as e:
        print(f"error: {out}: cannot write scores.txt / pck_data.json there ({e.strerror or e})", file=sys.stderr)
        return 1
    print(json.dumps(scores, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
