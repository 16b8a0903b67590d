"""FreiHAND-like cameras and hand placement: a random view of the hand that fills much of the square crop
and lies fully inside it, as in FreiHAND's 224 x 224 hand-centred crops."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peclr_mm.geometry import project

from .hand import FOREARM, HandGeometry

REFERENCE_SIZE = 224                # FreiHAND's image size; pixel quantities below are at this size
FOCAL_RANGE = (480.0, 720.0)        # focal length, px
PRINCIPAL_JITTER = 3.0              # principal point = image centre +- this, px
DEPTH_RANGE = (0.40, 0.90)          # wrist (root) depth, m
FILL_RANGE = (0.55, 0.90)           # longer side of the hand's bounding box / image size
MARGIN = 2.0                        # hand silhouette keeps this far from the border, px
MAX_ARM_TOWARDS_CAMERA = 0.3        # forearm direction's z >= -this: the arm never points at the camera


@dataclass(frozen=True)
class Scene:
    """A posed hand in front of a camera: K (3, 3) intrinsics and the hand geometry in camera coordinates
    (x right, y down, z forward, metres; the hand frame was moved by x -> R x + t)."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    hand: HandGeometry


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix uniform on SO(3) (normalised Gaussian quaternion); det = +1, so still a right hand."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def silhouette_points(hand: HandGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) and radii (N,) whose discs bound the hand's silhouette (the forearm is left out: like
    FreiHAND's crops, it may leave the image)."""
    keep = np.arange(len(hand.cap_a)) != FOREARM
    slab = hand.palm_half * hand.palm_normal
    pts = np.concatenate([hand.cap_a[keep], hand.cap_b[keep], hand.palm + slab, hand.palm - slab])
    radii = np.concatenate([hand.cap_ra[keep], hand.cap_rb[keep], np.zeros(2 * len(hand.palm))])
    return pts, radii


def bbox_px(hand: HandGeometry, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel bounding box (lo (2,), hi (2,)) of the hand's silhouette under K."""
    pts, radii = silhouette_points(hand)
    uv = project(pts, K)
    r = radii * K[0, 0] / pts[:, 2]
    return (uv - r[:, None]).min(0), (uv + r[:, None]).max(0)


def sample_intrinsics(rng: np.random.Generator, size: int) -> np.ndarray:
    """FreiHAND-like K for a ``size`` x ``size`` crop: square pixels, focal in FOCAL_RANGE (scaled to the
    size), principal point within PRINCIPAL_JITTER px of the centre."""
    k = size / REFERENCE_SIZE
    f = rng.uniform(*FOCAL_RANGE) * k
    c = size / 2.0 + rng.uniform(-PRINCIPAL_JITTER, PRINCIPAL_JITTER, 2) * k
    return np.array([[f, 0.0, c[0]], [0.0, f, c[1]], [0.0, 0.0, 1.0]])


def place_hand(rng: np.random.Generator, hand: HandGeometry, size: int, max_tries: int = 200) -> Scene:
    """Random rotation, intrinsics and translation such that the wrist depth is in DEPTH_RANGE, the hand's
    bounding box spans FILL_RANGE of the image, and the whole silhouette is MARGIN px inside the border.

    Rejection sampling: a draw whose required depth falls outside DEPTH_RANGE, or whose forearm points at
    the camera (it would hide the hand), is redrawn.
    """
    margin = MARGIN * size / REFERENCE_SIZE
    for _ in range(max_tries):
        R = random_rotation(rng)
        K = sample_intrinsics(rng, size)
        arm = R @ (hand.cap_b[FOREARM] - hand.cap_a[FOREARM])
        if arm[2] < -MAX_ARM_TOWARDS_CAMERA * np.linalg.norm(arm):  # people hold their hands out, not at us
            continue
        fill = rng.uniform(*FILL_RANGE)
        jitter = rng.uniform(-1.0, 1.0, 2)
        posed = hand.transformed(R, np.zeros(3))
        pts, radii = silhouette_points(posed)
        extent = max(np.max(pts[:, i] + radii) - np.min(pts[:, i] - radii) for i in (0, 1))
        depth = K[0, 0] * extent / (fill * size)
        if not DEPTH_RANGE[0] <= depth <= DEPTH_RANGE[1]:
            continue
        t = np.array([0.0, 0.0, depth])
        for _ in range(4):  # shift sideways until the box sits where we want it (perspective: iterate)
            moved = posed.transformed(np.eye(3), t)
            lo, hi = bbox_px(moved, K)
            slack = (size - 2 * margin - (hi - lo)) / 2
            if moved.verts[:, 2].min() < 0.1 or np.any(slack < 0):
                break
            t[:2] += (size / 2.0 + jitter * slack - (lo + hi) / 2) * depth / K[0, 0]
        else:
            moved = posed.transformed(np.eye(3), t)
            lo, hi = bbox_px(moved, K)
            if np.all(lo >= margin) and np.all(hi <= size - margin):
                return Scene(K=K, R=R, t=t, hand=moved)
    raise RuntimeError(f"could not place a hand inside a {size} px image in {max_tries} tries")
