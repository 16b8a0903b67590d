"""Tracked geometric transforms: the recorded matrix is where the pixels really go (through the real
pipeline: file -> LoadHandImage -> MultiViewTracked -> PackPeCLRInputs)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmpretrain.registry import DATASETS, TRANSFORMS

import peclr_mm.selfsup  # noqa: F401  (registers everything)
from peclr_mm.geometry import transform_points
from peclr_mm.selfsup import (
    HSVColorJitter,
    TrackedCrop,
    TrackedRandomAffine,
    TrackedWarp,
    normalization_matrix,
)

SIZE = 96


def _marker_image(path, size=224, centre=(120.0, 100.0), sigma=2.0, seed=0):
    """Dark noisy image with one bright Gaussian marker at sub-pixel ``centre`` (x, y); written as PNG."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    blob = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma ** 2))
    img = rng.integers(0, 12, (size, size, 3)).astype(np.float64) + 240 * blob[..., None]
    cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))


def _peak(img: np.ndarray) -> np.ndarray:
    """Intensity-weighted centroid (x, y) of the bright marker in an HxW(x3) image."""
    g = img.astype(np.float64).mean(-1) if img.ndim == 3 else img.astype(np.float64)
    w = np.clip(g - 0.5 * g.max(), 0, None)
    yy, xx = np.mgrid[:g.shape[0], :g.shape[1]]
    return np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()


def _view_pipeline(size=SIZE, shift=(0, 12), margin=(0.9, 1.5), flip_prob=0.5, jitter=True,
                   matrix_keys=('aug_norm',)):
    views = [dict(type='TrackedCrop', size=size, margin=1.4),
             dict(type='TrackedRandomAffine', max_angle=45, shift=shift, margin=margin, flip_prob=flip_prob),
             dict(type='TrackedWarp')]
    if jitter:  # appearance: ours and mmpretrain's, none may touch the matrices
        views += [dict(type='HSVColorJitter', hue=(0.01, 1.0), saturation=(0.01, 1.0)),
                  dict(type='RandomGrayscale', prob=0.5, keep_channels=True),
                  dict(type='GaussianBlur', magnitude_range=(0.1, 1.0), magnitude_std='inf', prob=0.5),
                  dict(type='RandomGaussianNoise', std=5, prob=0.5)]
    return [dict(type='LoadHandImage'), dict(type='MultiViewTracked', num_views=2, transforms=[views]),
            dict(type='PackPeCLRInputs', matrix_keys=matrix_keys)]


def test_marker_lands_where_the_recorded_matrix_sends_it(tmp_path):
    src = (121.3, 98.6)
    _marker_image(tmp_path / 'hand.png', centre=src)
    pipeline = _view_pipeline(matrix_keys=('aug_norm', 'homography_matrix'))  # source -> view px, packed too
    ds = DATASETS.build(dict(type='HandImageFolder', data_root=str(tmp_path), pipeline=pipeline))
    np.random.seed(0)
    errors, angles, flips = [], [], 0
    for _ in range(20):  # 40 views: random rotation, shift, scale, flip, colour jitter
        packed = ds[0]
        sample = packed['data_samples']
        assert sample.homography_matrix.shape == (2, 3, 3) and sample.homography_matrix.dtype == torch.float32
        for v in range(2):
            img = packed['inputs'][v].permute(1, 2, 0).numpy()
            A = sample.homography_matrix[v].double().numpy()
            errors.append(np.linalg.norm(_peak(img) - transform_points(A, np.array(src))))
            angles.append(math.degrees(math.atan2(A[1, 0], A[0, 0])))
            flips += np.linalg.det(A[:2, :2]) < 0
    assert max(errors) <= 1.0, f'marker off by up to {max(errors):.2f} px'
    assert 10 <= flips <= 30 and np.ptp(angles) > 45  # the transforms really varied


def test_matrix_composition_and_single_warp():
    """aug_norm is T R S F in normalised coordinates; the warp uses N^-1 aug N crop exactly once."""
    img = np.random.default_rng(1).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    r = TrackedCrop(size=(40, 40), margin=1.0)(dict(img=img, hand_bbox=np.array([10, 5, 40, 35.0])))
    side = math.hypot(30, 30)
    np.testing.assert_allclose(transform_points(r['peclr_crop_px'], np.array([25.0, 20.0])), [19.5, 19.5])
    np.testing.assert_allclose(r['peclr_crop_px'][0, 0], 40 / side)
    np.random.seed(3)
    r = TrackedRandomAffine(max_angle=30, shift=(2, 2), margin=(2.0, 2.0), flip_prob=1.0)(r)
    aug = r['aug_norm']
    assert np.linalg.det(aug[:2, :2]) == pytest.approx(-0.25)  # flipped, zoom 1/2
    np.testing.assert_allclose(np.abs(aug[:2, 2]), [2 / 40, 2 / 40])
    out = TrackedWarp()(r)
    N = normalization_matrix(40, 40)
    np.testing.assert_allclose(out['homography_matrix'], np.linalg.inv(N) @ aug @ N @ r['peclr_crop_px'])
    ref = cv2.warpAffine(img, out['homography_matrix'][:2], (40, 40), flags=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out['img'], ref)


def test_left_hand_is_mirrored_and_appearance_keeps_matrix():
    img = np.zeros((64, 64, 3), np.uint8)
    img[20:24, 10:14] = 255
    base = dict(img=img, hand_bbox=np.array([0, 0, 63, 63.0]))
    right = TrackedWarp()(TrackedCrop(size=32, margin=0.71)(dict(base)))
    left = TrackedWarp()(TrackedCrop(size=32, margin=0.71)(dict(base, flip_left=True)))
    np.testing.assert_allclose(_peak(left['img'])[0], 31 - _peak(right['img'])[0], atol=1e-6)
    before = {k: left[k].copy() for k in ('homography_matrix', 'aug_norm')}
    np.random.seed(0)
    after = TRANSFORMS.build(dict(type='RandomGaussianNoise', prob=1.0))(HSVColorJitter(prob=1.0)(left))
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)
    assert after['img'].dtype == np.uint8 and not np.array_equal(after['img'], right['img'])


def test_hsv_jitter_matches_official_formula():
    img = np.random.default_rng(2).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    np.random.seed(5)
    out = HSVColorJitter(prob=1.0)(dict(img=img.copy()))['img']
    np.random.seed(5)
    np.random.rand()  # the prob draw
    h, s, a, b = (np.random.uniform(*r) for r in ((0.01, 1.0), (0.01, 1.0), (0.5, 1.0), (5, 20)))
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float64)
    hsv = np.stack([np.clip(hsv[..., 0] * h, 0, 179), np.clip(hsv[..., 1] * s, 0, 255),
                    np.clip(hsv[..., 2] * a + b, 0, 255)], -1)
    ref = cv2.cvtColor(np.rint(hsv).astype(np.uint8), cv2.COLOR_HSV2BGR)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_collated_batch_carries_matrices_to_the_model(tmp_path):
    _marker_image(tmp_path / 'a.png')
    ds = DATASETS.build(dict(type='HandImageFolder', data_root=str(tmp_path),
                             pipeline=_view_pipeline(size=32, jitter=False)))
    batch = default_collate([ds[0], ds[0]])
    assert len(batch['inputs']) == 2 and batch['inputs'][0].shape == (2, 3, 32, 32)
    from mmpretrain.models import SelfSupDataPreprocessor
    data = SelfSupDataPreprocessor(mean=[0, 0, 0], std=[1, 1, 1])(batch)
    assert data['data_samples'][1].aug_norm.shape == (2, 3, 3)


def test_bad_configuration_is_reported():
    with pytest.raises(ValueError, match='margin'):
        TrackedRandomAffine(margin=(1.5, 0.9))
    with pytest.raises(ValueError, match='interpolation'):
        TrackedWarp(interpolation='lanczos')
    with pytest.raises(KeyError, match='TrackedCrop'):
        TrackedRandomAffine()(dict(img=np.zeros((4, 4, 3), np.uint8)))
    mv = TRANSFORMS.build(dict(type='MultiViewTracked', transforms=[[dict(type='TrackedCrop', size=8)]]))
    with pytest.raises(RuntimeError, match='TrackedWarp'):
        mv(dict(img=np.zeros((16, 16, 3), np.uint8)))
