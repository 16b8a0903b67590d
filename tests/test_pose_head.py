"""Regression25DHead: shapes, losses, decoding to metres, z-root refinement, flip test, visualiser."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import peclr_mm.pose  # noqa: F401
from peclr_mm.pose import FreiHand3DDataset, Hand25D, Regression25DHead


@pytest.fixture(scope='module')
def batch(pose_batch):
    """The data samples of conftest's ``pose_batch``: three packed training samples with 2.5-D labels."""
    return pose_batch['data_samples']


def _head(refine_root=False):
    torch.manual_seed(0)
    return Regression25DHead(in_channels=16, refine_root=refine_root, root_hidden=8,
                             decoder=dict(type='Hand25D', input_size=(64, 64)))


def test_forward_and_losses(batch):
    head = _head(refine_root=True)
    head.init_weights()
    feats = (torch.randn(3, 16, 2, 2), )
    out = head(feats)
    assert out.shape == (3, 21, 3) and torch.all(out[:, 0, 2] == 0)  # root depth fixed to 0
    assert head(torch.randn(3, 16)).shape == (3, 21, 3)  # already pooled features work too
    losses = head.loss(feats, batch)
    assert set(losses) == {'loss_uv', 'loss_z', 'loss_root', 'acc_pose'}
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in batch])
    np.testing.assert_allclose(losses['loss_uv'].item(), (out[..., :2] - labels[..., :2]).abs().mean().item(),
                               rtol=1e-5)
    np.testing.assert_allclose(losses['loss_z'].item(), (out[..., 2:] - labels[..., 2:]).abs().mean().item(),
                               rtol=1e-5)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(p.grad is not None for p in head.root_mlp.parameters())


def test_predict_decodes_to_camera_frame(batch):
    head = _head().eval()
    feats = (torch.randn(3, 16, 2, 2), )
    preds = head.predict(feats, batch, test_cfg={})
    out = head(feats).detach().numpy()
    input_K = np.concatenate([d.gt_instances.input_K for d in batch])
    scale = np.concatenate([d.gt_instances.hand_scale for d in batch])
    xyz, uv = Hand25D(input_size=(64, 64)).decode(out, input_K, scale)
    assert len(preds) == 3
    for i, p in enumerate(preds):
        assert p.keypoints.shape == (1, 21, 2) and p.keypoints_cam.shape == (1, 21, 3)
        np.testing.assert_allclose(p.keypoints_cam[0], xyz[i])
        np.testing.assert_allclose(p.keypoints[0], uv[i])
    # the labels themselves decode to the ground truth, in metres
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in batch]).numpy()
    gt = np.concatenate([d.gt_instances.keypoints_cam for d in batch])
    assert np.abs(Hand25D(input_size=(64, 64)).decode(labels, input_K, scale)[0] - gt).max() < 1e-6
    # the refined root depth is what decoding uses
    head = _head(refine_root=True).eval()
    preds = head.predict(feats, batch, test_cfg={})
    root = head.refine(head(feats), torch.as_tensor(input_K)).detach().numpy()
    xyz, _ = head.decoder.decode(head(feats).detach().numpy(), input_K, scale, root)
    np.testing.assert_allclose(np.concatenate([p.keypoints_cam for p in preds]), xyz)


def test_flip_test_averages_mirrored_prediction(batch):
    head = _head().eval()
    f, f_flip = (torch.randn(3, 16, 2, 2), ), (torch.randn(3, 16, 2, 2), )
    a, b = head(f), head(f_flip)
    b_back = torch.cat([(63 / 64) - b[..., :1], b[..., 1:]], -1)  # x -> w - 1 - x in pixels
    expected = ((a + b_back) / 2).detach().numpy()
    preds = head.predict([f, f_flip], batch, test_cfg=dict(flip_test=True))
    np.testing.assert_allclose(np.concatenate([p.keypoints for p in preds]), expected[..., :2] * 64, rtol=1e-5)


def test_missing_camera_is_a_clear_error(batch):
    head = _head().eval()
    sample = copy.deepcopy(batch[0])
    del sample.gt_instances.input_K
    with pytest.raises(KeyError, match='input_K'):
        head.predict((torch.randn(1, 16, 1, 1), ), [sample], test_cfg={})


def test_visualiser_draws_predictions(batch, freihand_root):
    """mmpose's PoseLocalVisualizer accepts the head's 2-D output (numpy 2: plain ndarrays) and draws every
    joint in its dataset colour, and every bone, where the head put them."""
    from mmpose.structures import PoseDataSample
    from mmpose.visualization import PoseLocalVisualizer

    from peclr_mm.geometry import SKELETON
    head = _head().eval()
    # the head predicts fixed, well separated joints: a 5 x 5 grid of input pixels 12 px apart, depth 0
    grid = np.stack(np.meshgrid(np.arange(5) * 12 + 8, np.arange(5) * 12 + 8), -1).reshape(-1, 2)[:21]
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.copy_(torch.tensor(np.concatenate([grid / 64, np.zeros((21, 1))], 1).ravel()))
    pred = head.predict((torch.randn(1, 16, 1, 1), ), batch[:1], test_cfg={})[0]
    np.testing.assert_allclose(pred.keypoints[0], grid, atol=1e-6)
    ds = FreiHand3DDataset(data_root=str(freihand_root), split='test', test_mode=True)
    vis = PoseLocalVisualizer(name='pose_head_test')
    vis.set_dataset_meta(ds.metainfo)
    sample = PoseDataSample(pred_instances=pred)
    img = np.zeros((64, 64, 3), np.uint8)
    vis.add_datasample('x', img, data_sample=sample, draw_gt=False, show=False)
    canvas = vis.get_image()
    assert canvas.shape == (64, 64, 3)
    colours = np.asarray(ds.metainfo['keypoint_colors'])
    for k, (x, y) in enumerate(grid):  # each joint's disc (3x3 around its centre) in the joint's colour
        patch = canvas[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3)
        assert (patch == colours[k]).all(), (k, patch.tolist(), colours[k].tolist())
    for a, b in SKELETON:  # each bone is drawn between its joints
        x, y = (grid[a] + grid[b]) // 2
        assert canvas[y, x].any(), (a, b)
    assert not canvas[:3, :3].any() and not canvas[-3:, -3:].any()  # away from the hand: background
