"""3-D hand pose of images, a folder or a video with mmpose's inferencer (``Hand25DInferencer``).

    python tools/infer.py INPUT --config CONFIG --checkpoint CKPT --out DIR
        [--det-model hand | DET_CONFIG [--det-weights DET_CKPT] [--det-cat-ids 0] [--bbox-thr 0.3]]
        [--bbox X1 Y1 X2 Y2 ... | --bboxes BOXES.json] [--K FX FY CX CY | --K K.json]
        [--bone-length METRES] [--device cpu] [--overwrite]

``INPUT`` is an image, a folder of images (``.jpg .jpeg .png .bmp .tif .tiff .webp``, sorted by name) or
a video (``.mp4 .avi .mov .mkv .webm``). ``CONFIG`` is a 2.5-D config (``configs/freihand3d/td-reg25d_*``,
``configs/demo/td-reg25d_*``) and ``CKPT`` its fine-tuned checkpoint, loaded strictly: a checkpoint without
head weights (a pretraining one) or of another width or depth is an error naming the checkpoint and the
first offending key, never a model with random weights.

Outputs (mmpose's inferencer layout, the input's full file name kept, so hand.jpg -> hand.jpg.json and
hand.png -> hand.png.json stay apart): per image ``DIR/visualizations/<name>`` (the 2-D joints on the image
beside the 3-D joints, mmpose's Pose3dLocalVisualizer) and ``DIR/predictions/<name>.json``, a list of
hands, each with ``keypoints`` (21 x 3, metres), ``keypoints_2d`` (21 x 2, image pixels), ``bbox``,
``frame``, ``K`` and ``bone_length``; for a video, the video of the pictures ``DIR/visualizations/<video
name>`` and ``DIR/predictions/<video name>.json`` (one record per frame). Each file is written under a
temporary name and moved into place.

``DIR`` may not be the input folder (or, for an image or a video, its folder), contain it, or lie inside an
input folder. An output of these inputs that exists in ``DIR`` already is not replaced: the run stops before
the first image, unless ``--overwrite``.

Defaults when an option is absent:

- hand boxes: the whole image is one hand box (FreiHAND's hand-centred crops). ``--det-model hand`` finds
  the hands with mmpose's RTMDet-nano hand detector (its weights are downloaded from mmpose's model zoo
  unless ``--det-weights`` names a file); any mmdet config works with ``--det-model CONFIG --det-weights
  CKPT``. ``--bbox`` gives boxes for every image (repeat the four numbers for several hands),
  ``--bboxes`` a JSON object mapping image file names to lists of ``[x1, y1, x2, y2]``;
- ``--K``: the intrinsics the official PeCLR release assumes for a 224 x 224 crop (fx = 388.90,
  fy = 388.71, cx = cy = 112; ``K_default`` of its ``RN_25D_wMLPref``), scaled to the network input.
  The 3-D joints are then root-relative (wrist at the origin; ``"frame": "root-relative"``); with
  ``--K`` they are in the camera frame (``"frame": "camera"``). ``--K`` takes ``fx fy cx cy`` or a JSON
  file holding a 3 x 3 matrix, ``[fx, fy, cx, cy]``, an object mapping image file names (or, for a
  video, its file name) to either, or FreiHAND's ``evaluation_K.json`` (one matrix per ``%08d.jpg``);
- ``--bone-length``: 0.031 m, the reference bone (middle-finger MCP -> PIP, FreiHAND's ``scale``) of
  the average hand of ``peclr_lab.synthetic``. Metric sizes, and with ``--K`` the depth, scale with it.

Any bad input (missing file, unreadable image or checkpoint, a checkpoint that does not fit the config,
malformed K or boxes, an ``--out`` at the input's place or holding earlier results) is a one-line error,
exit 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('input', help='image, folder of images or video')
    parser.add_argument('--config', required=True, help='2.5-D model config')
    parser.add_argument('--checkpoint', required=True, help='fine-tuned checkpoint of that config')
    parser.add_argument('--out', required=True,
                        help='output folder (created), outside the input folder: visualizations/<name> and '
                             'predictions/<name>.json, <name> the full file name (hand.jpg -> hand.jpg.json)')
    parser.add_argument('--det-model', default=None,
                        help="hand detector: 'hand' (mmpose's RTMDet-nano) or an mmdet config (default: none, "
                             'the whole image is the hand box)')
    parser.add_argument('--det-weights', default=None, help='detector checkpoint')
    parser.add_argument('--det-cat-ids', type=int, nargs='+', default=[0],
                        help="the detector's hand class ids (default: 0, mmpose's hand detectors)")
    parser.add_argument('--bbox-thr', type=float, default=0.3, help='detector score threshold (default: 0.3)')
    boxes = parser.add_mutually_exclusive_group()
    boxes.add_argument('--bbox', nargs='+', type=float, metavar='X1 Y1 X2 Y2', default=None,
                       help='hand boxes in image pixels for every image, four numbers each')
    boxes.add_argument('--bboxes', default=None, metavar='BOXES.json',
                       help='JSON object: image file name -> list of [x1, y1, x2, y2] boxes')
    parser.add_argument('--K', nargs='+', default=None, metavar='K',
                        help='fx fy cx cy, or a JSON file: one K, {name: K}, or FreiHAND\'s per-sample K list '
                             '(default: PeCLR\'s crop K, root-relative output)')
    parser.add_argument('--bone-length', type=float, default=None,
                        help='reference bone (joints 9-10) length in metres (default: 0.031)')
    parser.add_argument('--device', default='cpu', help='torch device (default: cpu)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace outputs of these inputs that exist in --out (default: stop before the '
                             'first image, nothing written)')
    args = parser.parse_args(argv)

    import peclr_mm.pose  # noqa: F401  (registers the modules, safe checkpoint loading)
    from peclr_mm.checkpoint import CorruptCheckpointError, UnsafeCheckpointError
    from peclr_mm.pose.inference_inputs import (
        InputError,
        check_outputs,
        inferencer_inputs,
        intrinsics_for,
        parse_boxes,
        parse_K,
    )
    try:
        if not os.path.isfile(args.config):
            raise InputError(f'{args.config}: config file not found')
        from peclr_mm.pose.inferencer import check_hand25d_config
        check_hand25d_config(args.config)
        if not os.path.isfile(args.checkpoint):
            raise InputError(f'{args.checkpoint}: checkpoint file not found')
        K = parse_K(args.K)
        inputs = inferencer_inputs(Path(args.input))  # input errors before the (slow) model build
        bboxes = parse_boxes(args.bbox, args.bboxes, inputs)
        for name in [inputs] if isinstance(inputs, str) else inputs:  # every image has its K, before outputs
            intrinsics_for(K, Path(name).name)
        check_outputs(Path(args.input), Path(args.out), args.overwrite)

        from peclr_mm.pose import Hand25DInferencer
        inferencer = Hand25DInferencer(args.config, args.checkpoint, device=args.device,
                                       det_model=args.det_model, det_weights=args.det_weights,
                                       det_cat_ids=tuple(args.det_cat_ids), show_progress=True)
        count = 0
        for _ in inferencer(inputs, out_dir=args.out, K=K, bboxes=bboxes, bone_length=args.bone_length,
                            bbox_thr=args.bbox_thr, num_instances=-1, draw_bbox=True):
            count += 1
    except (InputError, OSError, CorruptCheckpointError, UnsafeCheckpointError, ValueError) as e:
        print(f'error: {str(e).splitlines()[0]}', file=sys.stderr)
        return 1
    print(f'{count} image(s) -> {Path(args.out)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
