"""Shared fixtures: a small FreiHAND-format folder made on the fly (no download needed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peclr_mm.geometry import SKELETON, project

VERSIONS = ("gs", "hom", "sample", "auto")


def _random_hand(rng: np.random.Generator) -> np.ndarray:
    """(21, 3) joints in metres: a plausible open hand at 0.5-0.8 m depth (not anatomically exact)."""
    root = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(0.5, 0.8)])
    xyz = [np.zeros(3)]
    for finger in range(5):
        angle = np.deg2rad(-60 + 30 * finger + rng.uniform(-5, 5))
        direction = np.array([np.sin(angle), -np.cos(angle), rng.uniform(-0.3, 0.3)])
        direction /= np.linalg.norm(direction)
        p = np.zeros(3)
        for seg, length in enumerate((0.07, 0.035, 0.025, 0.02)):
            p = p + direction * (length if seg else length * (0.6 if finger == 0 else 1.0))
            xyz.append(p.copy())
    return np.stack(xyz) + root


def write_freihand(root: Path, num_train: int = 8, num_eval: int = 4, size: int = 224, seed: int = 0,
                   with_verts: bool = True) -> Path:
    """Write a FreiHAND-layout folder: training_{xyz,K,scale}.json, training/rgb (4 versions),
    evaluation_{xyz,K,scale,verts}.json, evaluation/rgb. Images show the projected skeleton."""
    import cv2

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("training", num_train), ("evaluation", num_eval)):
        xyz = np.stack([_random_hand(rng) for _ in range(n)])
        f = rng.uniform(450, 550, n)
        K = np.zeros((n, 3, 3))
        K[:, 0, 0] = K[:, 1, 1] = f
        K[:, 0, 2] = K[:, 1, 2] = size / 2
        K[:, 2, 2] = 1
        scale = np.linalg.norm(xyz[:, 10] - xyz[:, 9], axis=-1)
        (root / f"{split}_xyz.json").write_text(json.dumps(xyz.tolist()))
        (root / f"{split}_K.json").write_text(json.dumps(K.tolist()))
        (root / f"{split}_scale.json").write_text(json.dumps(scale.tolist()))
        if split == "evaluation" and with_verts:
            verts = xyz[:, rng.integers(0, 21, 778)] + rng.normal(0, 0.003, (n, 778, 3))
            (root / f"{split}_verts.json").write_text(json.dumps(verts.tolist()))
        rgb = root / split / "rgb"
        rgb.mkdir(parents=True, exist_ok=True)
        uv = project(xyz, K)
        copies = len(VERSIONS) if split == "training" else 1
        for v in range(copies):
            for i in range(n):
                img = np.full((size, size, 3), 40 + 50 * v, np.uint8)
                img += rng.integers(0, 30, img.shape, dtype=np.uint8)
                for a, b in SKELETON:
                    cv2.line(img, tuple(int(c) for c in uv[i, a]), tuple(int(c) for c in uv[i, b]),
                             (60, 150, 230), 4)
                cv2.imwrite(str(rgb / f"{i + n * v:08d}.jpg"), img)
    return root


@pytest.fixture(scope="session")
def freihand_root(tmp_path_factory) -> Path:
    """A FreiHAND-format folder: 8 training samples x 4 versions, 4 evaluation samples (with verts)."""
    return write_freihand(tmp_path_factory.mktemp("freihand"))


@pytest.fixture(scope="module")
def pose_batch(freihand_root) -> dict:
    """Three training samples (64 px input, 2.5-D labels) through the fine-tuning pipeline, collated."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    from peclr_mm.pose import FreiHand3DDataset
    init_default_scope("mmpose")
    codec = dict(type="Hand25D", input_size=(64, 64))
    pipeline = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale", padding=1.0),
                dict(type="TopdownAffine3D", input_size=(64, 64)), dict(type="GenerateTarget", encoder=codec),
                dict(type="PackHand3DInputs")]
    ds = FreiHand3DDataset(data_root=str(freihand_root), val_ratio=0.25, pipeline=pipeline)
    return pseudo_collate([ds[0], ds[5], ds[9]])


@pytest.fixture(autouse=True)
def _openmmlab_scope(request):
    """Each half's tests build from its own library's registries, whatever default scope an earlier
    test's Runner left behind in this process (mmengine resolves unscoped types in the current scope)."""
    name = request.module.__name__
    scope = "mmpretrain" if "selfsup" in name else "mmpose" if "pose" in name else None
    if scope:
        from mmengine.registry import init_default_scope

        init_default_scope(scope)
