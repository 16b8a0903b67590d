"""2.5-D hand pose of images, a folder or a video: a picture and a JSON of the joints per image.

    python tools/infer.py INPUT --config CONFIG --checkpoint CKPT --out DIR
        [--bbox X1 Y1 X2 Y2] [--K FX FY CX CY | --K K.json] [--bone-length METRES]
        [--device cpu] [--every N] [--overwrite]

``INPUT`` is an image, a folder of images (``.jpg .jpeg .png .bmp .tif .tiff .webp``, sorted by name) or
a video (``.mp4 .avi .mov .mkv .webm``). ``CONFIG`` is a 2.5-D config (``configs/freihand3d/td-reg25d_*``,
``configs/demo/td-reg25d_*``) and ``CKPT`` its fine-tuned checkpoint, loaded strictly: a checkpoint without
head weights (a pretraining one) or of another width or depth is an error naming the checkpoint and the
first offending key, never a model with random weights.

For each image, ``DIR/<name>.png`` shows the 2-D skeleton on the image and the 3-D skeleton from the
camera and from the side, and ``DIR/<name>.json`` holds per hand ``keypoints`` (21 x 2, image pixels),
``keypoints_3d`` (21 x 3, metres), ``frame`` and the camera and bone length used (see
``peclr_mm.pose.inference_hand25d``). ``<name>`` is the image's full file name (``hand.jpg`` ->
``hand.jpg.png`` and ``hand.jpg.json``, so ``hand.jpg`` and ``hand.png`` keep separate results); frame ``i``
of a video is ``<video file name>_<i:06d>`` (``clip.mp4_000002.png``). Both are written atomically.

``DIR`` may not be the input folder (or, for an image or a video, its folder), contain it, or lie inside an
input folder. A file of those names that exists in ``DIR`` already is not replaced: the run stops before
the first image, unless ``--overwrite``.

Defaults when an option is absent:

- ``--bbox``: the whole image is the hand box (as FreiHAND's hand-centred crops);
- ``--K``: the intrinsics the official PeCLR release assumes for a 224 x 224 crop (fx = 388.90,
  fy = 388.71, cx = cy = 112; ``K_default`` of its ``RN_25D_wMLPref``), scaled to the network input.
  The 3-D joints are then root-relative (wrist at the origin; ``"frame": "root-relative"``); with
  ``--K`` they are in the camera frame (``"frame": "camera"``). ``--K`` takes ``fx fy cx cy`` or a JSON
  file holding a 3 x 3 matrix, ``[fx, fy, cx, cy]``, an object mapping image file names (or, for a
  video, its file name) to either, or FreiHAND's ``evaluation_K.json`` (one matrix per ``%08d.jpg``);
- ``--bone-length``: 0.031 m, the reference bone (middle-finger MCP -> PIP, FreiHAND's ``scale``) of
  the average hand of ``peclr_mm.synthetic``. Metric sizes, and with ``--K`` the depth, scale with it.

Any bad input (missing file, unreadable image or checkpoint, a checkpoint that does not fit the config,
malformed K, an ``--out`` at the input's place or holding earlier results) is a one-line error, exit 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('input', help='image, folder of images or video')
    parser.add_argument('--config', required=True, help='2.5-D model config')
    parser.add_argument('--checkpoint', required=True, help='fine-tuned checkpoint of that config')
    parser.add_argument('--out', required=True,
                        help='output folder (created), outside the input folder; per image <name>.png and '
                             '<name>.json, <name> the full file name (hand.jpg -> hand.jpg.png)')
    parser.add_argument('--bbox', nargs=4, type=float, metavar=('X1', 'Y1', 'X2', 'Y2'), default=None,
                        help='hand box in image pixels (default: the whole image)')
    parser.add_argument('--K', nargs='+', default=None, metavar='K',
                        help='fx fy cx cy, or a JSON file: one K, {name: K}, or FreiHAND\'s per-sample K list '
                             '(default: PeCLR\'s crop K, root-relative output)')
    parser.add_argument('--bone-length', type=float, default=None,
                        help='reference bone (joints 9-10) length in metres (default: 0.031)')
    parser.add_argument('--device', default='cpu', help='torch device (default: cpu)')
    parser.add_argument('--every', type=int, default=1, help='video: process every N-th frame (default: 1)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace outputs of these inputs that exist in --out (default: stop before the '
                             'first image, nothing written)')
    args = parser.parse_args(argv)

    from peclr_mm.checkpoint import CorruptCheckpointError, UnsafeCheckpointError
    from peclr_mm.inference_inputs import InputError, check_outputs, open_inputs, parse_K
    try:
        if args.every < 1:
            raise InputError(f'--every must be >= 1, got {args.every}')
        if not os.path.isfile(args.config):
            raise InputError(f'{args.config}: config file not found')
        K = parse_K(args.K)
        inputs = open_inputs(Path(args.input), args.every)  # input errors before the (slow) model build
        check_outputs(Path(args.input), Path(args.out), args.overwrite)

        # registers the modules, safe checkpoint loading
        from peclr_mm.pose.inference import infer_to_folder, init_hand25d_model
        model = init_hand25d_model(args.config, args.checkpoint, device=args.device)
        count = infer_to_folder(model, args.input, args.out, K=K, bbox=args.bbox,
                                bone_length=args.bone_length, config=args.config, checkpoint=args.checkpoint,
                                inputs=inputs, overwrite=args.overwrite)
    except (InputError, OSError, CorruptCheckpointError, UnsafeCheckpointError, ValueError) as e:
        print(f'error: {str(e).splitlines()[0]}', file=sys.stderr)
        return 1
    print(f'{count} image(s) -> {Path(args.out)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
