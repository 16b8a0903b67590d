"""Hand25D codec, closed-form root depth and camera-consistent affine (K' = A K)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import peclr_mm.pose  # noqa: F401  (registers the components)
from peclr_mm.geometry import SCALE_BONE, bone_length, project, to_homogeneous
from peclr_mm.pose.hand25d import Hand25D
from peclr_mm.pose.root_depth import rays_np, rays_torch, root_depth_np, root_depth_torch


def _hands(freihand_root):
    import json
    xyz = np.array(json.loads((freihand_root / 'training_xyz.json').read_text()))
    K = np.array(json.loads((freihand_root / 'training_K.json').read_text()))
    scale = np.array(json.loads((freihand_root / 'training_scale.json').read_text()))
    return xyz, K, scale


def _random_affines(n, rng):
    """Crop/scale/rotation/flip pixel maps as TopdownAffine3D composes them."""
    out = []
    for i in range(n):
        a = np.deg2rad(rng.uniform(-180, 180))
        s = rng.uniform(0.2, 0.6)
        m = np.array([[s * np.cos(a), -s * np.sin(a), rng.uniform(-20, 20)],
                      [s * np.sin(a), s * np.cos(a), rng.uniform(-20, 20)], [0, 0, 1]])
        if i % 2:
            m = m @ np.array([[-1.0, 0, 223], [0, 1, 0], [0, 0, 1]])
        out.append(m)
    return np.stack(out)


def test_scale_is_the_bone(freihand_root):
    xyz, _, scale = _hands(freihand_root)
    np.testing.assert_allclose(bone_length(xyz, SCALE_BONE), scale, rtol=1e-12)


@pytest.mark.parametrize('with_affine', [False, True])
def test_round_trip(freihand_root, with_affine):
    xyz, K, scale = _hands(freihand_root)
    if with_affine:
        K = _random_affines(len(K), np.random.default_rng(0)) @ K
    codec = Hand25D(input_size=(64, 64))
    uv = project(xyz, K)
    enc = codec.encode(uv.astype(np.float32), None, keypoints_cam=xyz, input_K=K, hand_scale=scale)
    assert enc['keypoint_labels'].shape == (8, 21, 3) and enc['keypoint_labels'].dtype == np.float32
    assert enc['keypoint_weights'].shape == (8, 21) and np.all(enc['keypoint_weights'] == 1)
    np.testing.assert_allclose(enc['keypoint_labels'][:, 0, 2], 0)  # root-relative
    np.testing.assert_allclose(enc['root_depth'][:, 0], xyz[:, 0, 2] / scale, rtol=1e-6)
    np.testing.assert_allclose(enc['keypoint_labels'][..., 2], (xyz[..., 2] - xyz[:, :1, 2]) / scale[:, None],
                               rtol=1e-6, atol=1e-6)
    dec_xyz, dec_uv = codec.decode(enc['keypoint_labels'], K, scale)
    assert np.abs(dec_xyz - xyz).max() < 1e-6  # metres, from the float32 labels
    np.testing.assert_allclose(dec_uv, uv, atol=1e-3)
    # exact float64 targets: round trip at machine precision
    w = np.array([64, 64.0])
    exact = np.concatenate([uv / w, ((xyz[..., 2] - xyz[:, :1, 2]) / scale[:, None])[..., None]], -1)
    assert np.abs(codec.decode(exact, K, scale)[0] - xyz).max() < 1e-12
    # a given root depth is used as is
    dec_given, _ = codec.decode(exact, K, scale, root_depth=xyz[:, 0, 2] / scale)
    assert np.abs(dec_given - xyz).max() < 1e-12


def test_mask_outside():
    codec = Hand25D(input_size=(64, 64), mask_outside=True)
    xyz = np.array([[[0, 0, 1.0]] * 21])
    xyz[0, 5, 0] = 1.0  # far right: outside
    xyz[0, 10] = [0, 0.03, 1.0]
    K = np.array([[[100.0, 0, 32], [0, 100, 32], [0, 0, 1]]])
    enc = codec.encode(np.zeros((1, 21, 2)), np.ones((1, 21)), keypoints_cam=xyz, input_K=K,
                       hand_scale=np.array([0.03]))
    assert enc['keypoint_weights'][0, 5] == 0 and enc['keypoint_weights'].sum() == 20


def test_encode_needs_3d():
    with pytest.raises(ValueError, match='keypoints_cam'):
        Hand25D().encode(np.zeros((1, 21, 2)), None)


def test_root_depth_torch_matches_numpy_and_is_differentiable(freihand_root):
    xyz, K, scale = _hands(freihand_root)
    rays = rays_np(project(xyz, K), K)
    zrel = (xyz[..., 2] - xyz[:, :1, 2]) / scale[:, None]
    root_np = root_depth_np(rays, zrel)
    np.testing.assert_allclose(root_np, xyz[:, 0, 2] / scale, rtol=1e-10)
    uv_t = torch.tensor(project(xyz, K), requires_grad=True)
    zrel_t = torch.tensor(zrel, requires_grad=True)
    root_t = root_depth_torch(rays_torch(uv_t, torch.tensor(K)), zrel_t)
    np.testing.assert_allclose(root_t.detach().numpy(), root_np, rtol=1e-10)
    root_t.sum().backward()
    assert torch.isfinite(uv_t.grad).all() and torch.isfinite(zrel_t.grad).all()
    # the b > 0 branch (cancellation-free form): rays x_m = (0, 0, 1), x_n = (1, 0, 1), relative depths 0 and
    # 0.5 give a = 1, b = 2 x 0.5 = 1 > 0, c = 0.25 + 0.25 - 1 = -0.5; the larger root is the textbook one
    # and makes the bone exactly 1 long
    rays = np.array([[[0, 0, 1.0], [1, 0, 1.0]]])
    z = root_depth_np(rays, np.array([[0.0, 0.5]]), bone=(0, 1))[0]
    assert np.isclose(z, (-1 + np.sqrt(1 + 4 * 0.5)) / 2, rtol=1e-12)
    assert np.isclose(np.linalg.norm(rays[0, 1] * (z + 0.5) - rays[0, 0] * z), 1.0, rtol=1e-12)


def test_degenerate_prediction_gives_finite_depth():
    rays = np.zeros((1, 21, 3))
    rays[..., 2] = 1  # every joint on the optical axis: a = 0, no real solution
    out = root_depth_np(rays, np.zeros((1, 21)))
    assert np.isfinite(out).all()


@pytest.mark.parametrize('zn', [2.0, -2.0])
def test_inconsistent_prediction_gives_the_depth_of_closest_approach(zn):
    """Relative depths 0 and zn on rays (0, 0, 1), (1, 0, 1): the bone |z d + e| can never be 1 for
    |zn| > 1; the root is then argmin_z |z d + e| = -(d . e) / |d|^2 = -zn (the release's clamped formula),
    for b = 2 zn of either sign, in numpy and torch."""
    rays = np.array([[[0, 0, 1.0], [1, 0, 1.0]]])
    zrel = np.array([[0.0, zn]])
    assert np.isclose(root_depth_np(rays, zrel, bone=(0, 1))[0], -zn, atol=1e-3)
    assert np.isclose(float(root_depth_torch(torch.tensor(rays), torch.tensor(zrel), bone=(0, 1))[0]), -zn,
                      atol=1e-3)


@pytest.mark.parametrize('use_udp', [False, True])
def test_affine_transform_keeps_camera_consistent(freihand_root, use_udp):
    """RandomFlip + RandomBBoxTransform + TopdownAffine3D (mmpose's warp or its UDP warp): the crop is the
    projection through K'."""
    from mmpose.datasets.transforms import GetBBoxCenterScale, LoadImage, RandomBBoxTransform, RandomFlip

    from peclr_mm.pose import FreiHand3DDataset, PackHand3DInputs, TopdownAffine3D
    ds = FreiHand3DDataset(data_root=str(freihand_root), split='train', val_ratio=0.25)
    codec = Hand25D(input_size=(64, 48))
    pipeline = [LoadImage(), GetBBoxCenterScale(padding=1.0), RandomFlip(prob=1.0),
                RandomBBoxTransform(rotate_prob=1.0, rotate_factor=60, shift_prob=1.0, scale_prob=1.0),
                TopdownAffine3D(input_size=(64, 48), use_udp=use_udp)]
    np.random.seed(0)
    for idx in range(4):
        res = ds.get_data_info(idx)
        orig = res['keypoints'].copy()
        for t in pipeline:
            res = t(res)
        assert res['flip'] and abs(res['bbox_rotation'][0]) > 0
        Kp = res['input_K']
        # the network input is the image of the unchanged 3-D joints through K' = A K
        np.testing.assert_allclose(project(res['keypoints_cam'], Kp), res['transformed_keypoints'],
                                   atol=1e-3)
        # A maps original pixels to input pixels (flip included)
        A = res['input_affine']
        np.testing.assert_allclose(orig[0] @ A[:2, :2].T + A[:2, 2], res['transformed_keypoints'][0],
                                   atol=1e-3)
        np.testing.assert_allclose(Kp[0], A @ res['K'][0], atol=1e-9)
        enc = codec.encode(res['transformed_keypoints'], res['keypoints_visible'],
                           keypoints_cam=res['keypoints_cam'], input_K=Kp, hand_scale=res['hand_scale'])
        dec, _ = codec.decode(enc['keypoint_labels'], Kp, res['hand_scale'])
        assert np.abs(dec - res['keypoints_cam']).max() < 1e-6  # back in the original camera, metres
        packed = PackHand3DInputs()(dict(res, **enc, label_mapping_table=codec.label_mapping_table))
        gi = packed['data_samples'].gt_instances
        assert gi.input_K.shape == (1, 3, 3) and gi.hand_scale.shape == (1,) and gi.K.shape == (1, 3, 3)
        assert packed['data_samples'].gt_instance_labels.root_depth.shape == (1, 1)
        assert packed['data_samples'].metainfo['sample_id'] == res['sample_id']


def test_affine_matrix_helpers():
    from peclr_mm.pose.transforms import flip_matrix
    f = flip_matrix('horizontal', (10, 20, 3))
    np.testing.assert_allclose(f @ [0, 3, 1], [19, 3, 1])
    f = flip_matrix('diagonal', (10, 20, 3))
    np.testing.assert_allclose(f @ [0, 0, 1], [19, 9, 1])
    with pytest.raises(ValueError):
        flip_matrix('sideways', (1, 1))
    np.testing.assert_allclose(to_homogeneous(np.eye(2, 3)), np.eye(3))
