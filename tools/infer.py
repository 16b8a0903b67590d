"""2.5-D hand pose of images, a folder or a video: a picture and a JSON of the joints per image.

    python tools/infer.py INPUT --config CONFIG --checkpoint CKPT --out DIR
        [--bbox X1 Y1 X2 Y2] [--K FX FY CX CY | --K K.json] [--bone-length METRES]
        [--device cpu] [--every N]

``INPUT`` is an image, a folder of images (``.jpg .jpeg .png .bmp .tif .tiff .webp``, sorted by name) or
a video (``.mp4 .avi .mov .mkv .webm``: frame ``i`` is written as ``<video stem>_<i:06d>``). ``CONFIG``
is a 2.5-D config (``configs/freihand3d/td-reg25d_*``, ``configs/demo/td-reg25d_*``) and ``CKPT`` its
fine-tuned checkpoint. For each image, ``DIR/<stem>.png`` shows the 2-D skeleton on the image and the
3-D skeleton from the camera and from the side, and ``DIR/<stem>.json`` holds per hand ``keypoints``
(21 x 2, image pixels), ``keypoints_3d`` (21 x 3, metres), ``frame`` and the camera and bone length used
(see ``peclr_mm.pose.inference_hand25d``). Both are written atomically.

Defaults when an option is absent:

- ``--bbox``: the whole image is the hand box (as FreiHAND's hand-centred crops);
- ``--K``: the intrinsics the official PeCLR release assumes for a 224 x 224 crop (fx = 388.90,
  fy = 388.71, cx = cy = 112; ``K_default`` of its ``RN_25D_wMLPref``), scaled to the network input.
  The 3-D joints are then root-relative (wrist at the origin; ``"frame": "root-relative"``); with
  ``--K`` they are in the camera frame (``"frame": "camera"``). ``--K`` takes ``fx fy cx cy`` or a JSON
  file holding a 3 x 3 matrix, ``[fx, fy, cx, cy]``, or an object mapping image file names (or, for a
  video, its file name) to either;
- ``--bone-length``: 0.031 m, the reference bone (middle-finger MCP -> PIP, FreiHAND's ``scale``) of
  the average hand of ``peclr_mm.synthetic``. Metric sizes, and with ``--K`` the depth, scale with it.

Any bad input (missing file, unreadable image or checkpoint, malformed K) is a one-line error, exit 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')


class InputError(ValueError):
    """Bad command-line input: reported as one line."""


def iter_inputs(path: Path, every: int = 1) -> Iterator[tuple[str, str, np.ndarray | None]]:
    """(output stem, K lookup name, BGR image or None for a file path) per image of ``path``."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise InputError(f'{path}: no images ({" ".join(IMAGE_EXTS)}) in this folder')
        for f in files:
            yield f.stem, f.name, None
    elif path.suffix.lower() in VIDEO_EXTS:
        import cv2
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise InputError(f'{path}: not a readable video')
        i, read = 0, 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if i % every == 0:
                    read += 1
                    yield f'{path.stem}_{i:06d}', path.name, frame
                i += 1
        finally:
            cap.release()
        if read == 0:
            raise InputError(f'{path}: no frames could be read from this video')
    elif path.is_file():
        yield path.stem, path.name, None
    else:
        raise InputError(f'{path}: no such image, folder or video')


def _intrinsics(value, where: str) -> np.ndarray:
    from peclr_mm.pose.transforms import as_intrinsics
    try:
        return as_intrinsics(value)
    except (ValueError, TypeError) as e:
        raise InputError(f'{where}: {e}') from None


def parse_K(values: list[str] | None) -> np.ndarray | dict[str, np.ndarray] | None:
    """``--K``: four numbers, or a JSON file (3 x 3, [fx, fy, cx, cy], or {file name: either})."""
    if not values:
        return None
    if len(values) == 4:
        try:
            return _intrinsics([float(v) for v in values], '--K')
        except ValueError as e:
            raise InputError(f'--K: expected fx fy cx cy as numbers or one JSON file ({e})') from None
    if len(values) != 1:
        raise InputError(f'--K: expected fx fy cx cy or one JSON file, got {len(values)} values')
    from peclr_mm.fileio import load_json
    try:
        obj = load_json(values[0], 'K')
    except (OSError, ValueError) as e:
        raise InputError(str(e).splitlines()[0]) from None
    if isinstance(obj, dict):
        return {str(k): _intrinsics(v, f'{values[0]}: field {k!r}') for k, v in obj.items()}
    return _intrinsics(obj, values[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('input', help='image, folder of images or video')
    parser.add_argument('--config', required=True, help='2.5-D model config')
    parser.add_argument('--checkpoint', required=True, help='fine-tuned checkpoint of that config')
    parser.add_argument('--out', required=True, help='output folder (created)')
    parser.add_argument('--bbox', nargs=4, type=float, metavar=('X1', 'Y1', 'X2', 'Y2'), default=None,
                        help='hand box in image pixels (default: the whole image)')
    parser.add_argument('--K', nargs='+', default=None, metavar='K',
                        help='fx fy cx cy, or a JSON file (default: PeCLR\'s crop K, root-relative output)')
    parser.add_argument('--bone-length', type=float, default=None,
                        help='reference bone (joints 9-10) length in metres (default: 0.031)')
    parser.add_argument('--device', default='cpu', help='torch device (default: cpu)')
    parser.add_argument('--every', type=int, default=1, help='video: process every N-th frame (default: 1)')
    args = parser.parse_args(argv)

    from peclr_mm.checkpoint import CorruptCheckpointError, UnsafeCheckpointError
    from peclr_mm.fileio import atomic_write_json
    try:
        if args.every < 1:
            raise InputError(f'--every must be >= 1, got {args.every}')
        if not os.path.isfile(args.config):
            raise InputError(f'{args.config}: config file not found')
        K = parse_K(args.K)
        source = Path(args.input)
        inputs = iter_inputs(source, args.every)
        first = next(inputs)  # input errors before the (slow) model build

        import mmcv
        from mmpose.apis import init_model

        import peclr_mm.pose  # noqa: F401  (registers the modules, safe checkpoint loading)
        from peclr_mm.pose.inference import draw_hand25d, hands_to_json, inference_hand25d, save_figure
        model = init_model(args.config, args.checkpoint, device=args.device)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        names = model.dataset_meta.get('keypoint_id2name') if model.dataset_meta else None
        count = 0
        for stem, name, frame in _chain(first, inputs):
            img_file = None if frame is not None else (source / name if source.is_dir() else source)
            image = frame if frame is not None else mmcv.imread(str(img_file))
            if image is None:
                raise InputError(f'{img_file}: not a readable image')
            k = K.get(name) if isinstance(K, dict) else K
            if isinstance(K, dict) and k is None:
                raise InputError(f'{args.K[0]}: no K for {name!r}')
            hands = inference_hand25d(model, image, bbox=args.bbox, K=k, bone_length=args.bone_length)
            record = dict(image=str(img_file) if img_file else str(source), frame_index=None,
                          config=args.config, checkpoint=args.checkpoint,
                          units=dict(keypoints='image pixels', keypoints_3d='metres', bone_length='metres'),
                          joint_names=[names[i] for i in range(len(names))] if names else None,
                          hands=hands_to_json(hands))
            if frame is not None:
                record['frame_index'] = int(stem.rsplit('_', 1)[1])
            save_figure(draw_hand25d(image, hands, title=f'{name}' + (f' frame {record["frame_index"]}'
                                                                      if frame is not None else '')),
                        out / f'{stem}.png')
            atomic_write_json(out / f'{stem}.json', record)
            count += 1
    except (InputError, FileNotFoundError, CorruptCheckpointError, UnsafeCheckpointError, ValueError) as e:
        print(f'error: {str(e).splitlines()[0]}', file=sys.stderr)
        return 1
    print(f'{count} image(s) -> {out}')
    return 0


def _chain(first, rest):
    yield first
    yield from rest


if __name__ == '__main__':
    sys.exit(main())
