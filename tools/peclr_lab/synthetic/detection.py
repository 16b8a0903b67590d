"""A COCO-format hand *detection* set of synthetic composites: 0-2 procedural hands, each drawn by the
project's renderer at a random position and scale into a larger cluttered scene, with the tight box of each
hand's silhouette (forearm excluded, as in OneHand10K / mmpose's hand detector) and its 21 projected
keypoints. Made to train mmpose's RTMDet-nano hand detector architecture without downloading anything.

Layout::

    train/%06d.jpg, val/%06d.jpg     width x height composites
    annotations/train.json, annotations/val.json     COCO: images, annotations (bbox, area, iscrowd,
                                                     keypoints, num_keypoints), categories [1: 'hand']

Each hand is rendered straight onto the scene (its camera's principal point moved to where the hand goes),
then blended in through its own feathered silhouette, so the hand's edges are antialiased against the real
background and no pasted square is left to give the hand away.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from peclr_mm.geometry import project

from .background import clutter, sensor_noise
from .camera import Scene, bbox_px, place_hand
from .hand import forward_kinematics, sample_articulation, sample_shape
from .render import harmonise, recolour, render_hand, sample_appearance
from .writer import JPEG_QUALITY, _check_int, _write_jpeg, write_folder

DET_SPLITS = {"train": 0, "val": 1}
MARKER = ".peclr_mm_hand_detection.json"   # written into every set made here; overwrite needs it
CATEGORY = {"id": 1, "name": "hand", "supercategory": "hand"}
NO_HAND_PROB = 0.1          # share of images without a hand (negatives)
MAX_OCCLUSION = 0.1         # a later hand may cover at most this fraction of an earlier hand's box
DECIMALS = 2                # box and keypoint coordinates written to the json (px)


def _hand_rng(seed: int, split: str, image: int, stream: int) -> np.random.Generator:
    """The generator of one stream (0: the scene; 1 + k: hand k) of one image of ``split``."""
    return np.random.default_rng([seed, 2 + DET_SPLITS[split], image, stream])


def render_composite(seed: int, split: str, index: int, width: int = 320, height: int = 240,
                     hand_sizes: tuple[int, int] = (48, 128),
                     max_hands: int = 2) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Composite ``index`` of ``split``: a cluttered ``width`` x ``height`` scene with 0..``max_hands`` hands.

    Each hand is placed as a FreiHAND-like square crop of side in ``hand_sizes`` (px; the hand fills 55-90 %
    of it) at a uniformly random position inside the image. Returns the image (height, width, 3) uint8 BGR,
    the boxes [(4,) x1, y1, x2, y2 float, px] and the keypoints [(21, 2) u, v, px], one per hand, in drawing
    order. Depends only on (seed, split, index) and the size arguments.
    """
    rng = _hand_rng(seed, split, index, 0)
    side = max(width, height)  # the renderer and backgrounds work on squares: draw on one, crop at the end
    canvas = clutter(rng, side).astype(np.float32)
    weights = np.full(max_hands + 1, (1.0 - NO_HAND_PROB) / max(max_hands, 1))
    weights[0] = NO_HAND_PROB if max_hands else 1.0
    count = int(rng.choice(max_hands + 1, p=weights / weights.sum()))
    boxes: list[np.ndarray] = []
    keypoints: list[np.ndarray] = []
    for k in range(count):
        hrng = _hand_rng(seed, split, index, 1 + k)
        size = int(hrng.integers(hand_sizes[0], hand_sizes[1] + 1))
        x0, y0 = int(hrng.integers(0, width - size + 1)), int(hrng.integers(0, height - size + 1))
        shape, pose = sample_shape(hrng), sample_articulation(hrng)
        scene = place_hand(hrng, forward_kinematics(shape, pose), size)
        look = sample_appearance(hrng)
        mood = hrng.random()  # FreiHAND's post-processings: as rendered, harmonised or recoloured
        if mood < 0.3:
            patch = canvas[y0:y0 + size, x0:x0 + size].reshape(-1, 3).mean(0)
            look = harmonise(look, patch.astype(np.float64), hrng.uniform(0.1, 0.3))
        elif mood < 0.6:
            look = recolour(look, hrng)
        K = scene.K.copy()
        K[:2, 2] += (x0, y0)  # the crop's camera, moved to where the crop sits in the scene
        moved = Scene(K=K, R=scene.R, t=scene.t, hand=scene.hand)
        drawn, mask = render_hand(canvas.astype(np.uint8), moved, look, hrng)
        uv = project(moved.hand.joints, K)
        lo, hi = bbox_px(moved.hand, K)  # the silhouette's box, grown to hold the wrist joint where it
        lo, hi = np.minimum(lo, uv.min(0)), np.maximum(hi, uv.max(0))  # meets the (excluded) forearm
        box = np.concatenate([np.clip(lo, 0, None), np.minimum(hi, (width, height))])
        if any(_covered(mask, b) > MAX_OCCLUSION for b in boxes):
            continue  # this hand (or its forearm) would hide an earlier one: leave it out
        alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 0.8)[..., None]
        canvas = canvas * (1.0 - alpha) + drawn.astype(np.float32) * alpha
        boxes.append(box)
        keypoints.append(uv)
    canvas += sensor_noise(rng, side) * rng.uniform(1.0, 3.0)  # one sensor for the whole picture
    image = np.clip(canvas[:height, :width], 0, 255).astype(np.uint8)
    return image, boxes, keypoints


def _covered(mask: np.ndarray, box: np.ndarray) -> float:
    """Fraction of ``box`` (x1, y1, x2, y2) that ``mask`` (255 = drawn) covers."""
    x1, y1 = int(np.floor(box[0])), int(np.floor(box[1]))
    x2, y2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
    region = mask[y1:y2, x1:x2]
    return float((region > 0).mean()) if region.size else 0.0


def _coco_split(tmp: Path, split: str, count: int, seed: int, width: int, height: int,
                hand_sizes: tuple[int, int], max_hands: int, quality: int, bar) -> dict:
    """Render ``count`` composites of ``split`` into ``tmp/split`` and return their COCO dictionary."""
    (tmp / split).mkdir(parents=True)
    images, annotations = [], []
    for i in range(count):
        image, boxes, keypoints = render_composite(seed, split, i, width, height, hand_sizes, max_hands)
        name = f"{i:06d}.jpg"
        _write_jpeg(tmp / split / name, image, quality)
        images.append({"id": i + 1, "file_name": name, "width": width, "height": height})
        for box, uv in zip(boxes, keypoints):
            x1, y1, x2, y2 = (round(float(v), DECIMALS) for v in box)
            w, h = round(x2 - x1, DECIMALS), round(y2 - y1, DECIMALS)
            kpts = np.concatenate([np.round(uv, DECIMALS), np.full((len(uv), 1), 2.0)], 1)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": CATEGORY["id"],
                                "bbox": [x1, y1, w, h], "area": round(w * h, DECIMALS), "iscrowd": 0,
                                "keypoints": kpts.reshape(-1).tolist(), "num_keypoints": len(uv)})
        bar.update(1)
    return {"info": {"description": f"peclr_mm synthetic hand detection composites ({split}, seed {seed})"},
            "images": images, "annotations": annotations, "categories": [CATEGORY]}


def make_synthetic_hand_detection(out_dir: str | os.PathLike, num_train: int, num_val: int, seed: int = 0,
                                  width: int = 320, height: int = 240, hand_sizes: tuple[int, int] = (48, 128),
                                  max_hands: int = 2, overwrite: bool = False, progress: bool = True,
                                  quality: int = JPEG_QUALITY) -> Path:
    """Write ``num_train`` training and ``num_val`` validation composites (see ``render_composite``) with
    COCO annotations into ``out_dir``; returns its path.

    Deterministic: one ``seed`` (and the same sizes) gives byte-identical files; the validation images are
    drawn from their own streams, never from training ones. Atomic: written to ``<out_dir>.tmp-<pid>`` and
    renamed at the end (removed on any error or Ctrl-C). A non-empty ``out_dir`` is replaced only with
    ``overwrite`` and only if it holds this function's marker file; a symbolic link is refused.
    """
    num_train = _check_int("num_train", num_train, 1)
    num_val = _check_int("num_val", num_val, 1)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    width = _check_int("width", width, 32, 4096)
    height = _check_int("height", height, 32, 4096)
    max_hands = _check_int("max_hands", max_hands, 0, 8)
    quality = _check_int("quality", quality, 1, 100)
    if len(hand_sizes) != 2:
        raise ValueError(f"hand_sizes must be (min, max) in px, got {hand_sizes!r}")
    lo = _check_int("hand_sizes[0]", hand_sizes[0], 16, min(width, height))
    hi = _check_int("hand_sizes[1]", hand_sizes[1], lo, min(width, height))

    def fill(tmp: Path, out: Path) -> dict:
        (tmp / "annotations").mkdir()
        with tqdm(total=num_train + num_val, unit="img", file=sys.stderr, desc=f"hand composites -> {out.name}",
                  disable=not progress, dynamic_ncols=True) as bar:
            for split, count in (("train", num_train), ("val", num_val)):
                coco = _coco_split(tmp, split, count, seed, width, height, (lo, hi), max_hands, quality, bar)
                (tmp / "annotations" / f"{split}.json").write_text(json.dumps(coco))
        return dict(num_train=num_train, num_val=num_val, seed=seed, width=width, height=height,
                    hand_sizes=[lo, hi], max_hands=max_hands, quality=quality)

    return write_folder(out_dir, overwrite, MARKER, "make_synthetic_hand_detection", fill)
