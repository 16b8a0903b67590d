"""Geometry shared by both halves: camera projection and 2-D affine/homogeneous helpers (numpy only)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# FreiHAND's 21-joint order: 0 wrist; thumb 1-4, index 5-8, middle 9-12, ring 13-16, little 17-20 (tips last).
NUM_JOINTS = 21
# The bone whose length FreiHAND stores as ``scale`` (training_scale.json): middle-finger MCP -> PIP.
SCALE_BONE = (9, 10)
SKELETON = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11),
            (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]


def project(xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection. xyz: (..., N, 3) camera coordinates; K: (..., 3, 3). Returns (..., N, 2) pixels."""
    uvw = np.einsum("...ij,...nj->...ni", K, xyz)
    return uvw[..., :2] / uvw[..., 2:3]


def to_homogeneous(affine: np.ndarray) -> np.ndarray:
    """(..., 2, 3) affine -> (..., 3, 3) matrix with last row [0, 0, 1]."""
    affine = np.asarray(affine, dtype=np.float64)
    out = np.zeros(affine.shape[:-2] + (3, 3))
    out[..., :2, :] = affine
    out[..., 2, 2] = 1.0
    return out


def transform_points(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a (3, 3) homogeneous matrix to (..., 2) points."""
    pts = np.asarray(pts, dtype=np.float64)
    hom = pts @ matrix[:2, :2].T + matrix[:2, 2]
    if np.allclose(matrix[2], (0.0, 0.0, 1.0)):
        return hom
    w = pts @ matrix[2, :2] + matrix[2, 2]
    return hom / w[..., None]


def bone_length(xyz: np.ndarray, bone: tuple[int, int] = SCALE_BONE) -> np.ndarray:
    """Length of ``bone`` for (..., 21, 3) joints: FreiHAND's ``scale``."""
    return np.linalg.norm(xyz[..., bone[1], :] - xyz[..., bone[0], :], axis=-1)


def as_intrinsics(K: Sequence | np.ndarray) -> np.ndarray:
    """A (3, 3) float64 matrix from a 3 x 3 array or ``(fx, fy, cx, cy)``."""
    K = np.asarray(K, np.float64)
    if K.shape == (4, ):
        fx, fy, cx, cy = K
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    if K.shape != (3, 3) or not np.isfinite(K).all() or abs(np.linalg.det(K)) < 1e-12:
        raise ValueError(f'intrinsics must be a finite invertible 3x3 matrix or (fx, fy, cx, cy), '
                         f'got {K.tolist()}')
    return K
