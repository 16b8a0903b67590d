"""Exact checks of the fine-tuning core against independent formulas (issue 21's surviving mutants):
the refined root depth, its detached closed form, the z-loss weight, F-scores at the threshold."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import peclr_mm.pose  # noqa: F401
from peclr_mm.freihand.scorer import f_scores
from peclr_mm.pose import Regression25DHead


@pytest.fixture(scope='module')
def batch(pose_batch):
    return pose_batch['data_samples']


def _head(**kw):
    torch.manual_seed(0)
    return Regression25DHead(in_channels=16, refine_root=True, root_hidden=8,
                             decoder=dict(type='Hand25D', input_size=(64, 64)), **kw)


def _silent_mlp(head):
    """The z-root MLP's last layer set to output 0: refine() is then the closed-form root alone."""
    with torch.no_grad():
        head.root_mlp[-1].weight.zero_()
        head.root_mlp[-1].bias.zero_()


def test_refine_is_the_closed_form_root_plus_the_mlp(batch):
    """With the MLP silent, refine() on the true 2.5-D pose is the true root depth / bone length, read off
    the ground-truth 3-D joints (wrist 0, scale bone 9-10); the MLP's output is added to it."""
    head = _head().eval()
    _silent_mlp(head)
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in batch])
    input_K = torch.as_tensor(np.concatenate([d.gt_instances.input_K for d in batch]))
    xyz = np.concatenate([d.gt_instances.keypoints_cam for d in batch]).astype(np.float64)
    expected = xyz[:, 0, 2] / np.linalg.norm(xyz[:, 10] - xyz[:, 9], axis=-1)
    got = head.refine(labels, input_K).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    with torch.no_grad():
        head.root_mlp[-1].bias.fill_(0.75)
    np.testing.assert_allclose(head.refine(labels, input_K).detach().numpy(), expected + 0.75, rtol=1e-4)


def test_refine_does_not_backpropagate_through_the_closed_form(batch):
    """As the release's RN_25D_wMLPref: the closed-form root is a detached input; with a silent MLP no
    gradient reaches the 2.5-D pose through refine()."""
    head = _head().eval()
    _silent_mlp(head)
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in batch]).clone().requires_grad_()
    input_K = torch.as_tensor(np.concatenate([d.gt_instances.input_K for d in batch]))
    head.refine(labels, input_K).sum().backward()
    assert labels.grad is not None and torch.count_nonzero(labels.grad) == 0


def test_z_loss_weight_multiplies_the_depth_loss(batch):
    feats = (torch.randn(3, 16),)
    out = {}
    for w in (1.0, 0.1):
        head = _head(z_loss_weight=w)
        out[w] = head.loss(feats, batch)
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in batch])
    pred = _head()(feats)
    l1_z = (pred[..., 2:] - labels[..., 2:]).abs().mean()  # all joints visible: plain mean
    torch.testing.assert_close(out[1.0]['loss_z'], l1_z)
    torch.testing.assert_close(out[0.1]['loss_z'], 0.1 * l1_z)
    torch.testing.assert_close(out[0.1]['loss_uv'], out[1.0]['loss_uv'])


def test_fscore_is_strict_at_the_threshold_on_both_sides():
    """FreiHAND's calculate_fscore counts distance < threshold, for precision (gt -> pred) and recall
    (pred -> gt). One gt point and one predicted point lie exactly at 0.25 of their nearest neighbour."""
    gt = np.array([[[0.0, 0, 0], [10.0, 0, 0]]])
    pred = np.array([[[0.0, 0, 0], [10.25, 0, 0], [100.0, 0, 0]]])
    precision, recall = 1 / 2, 1 / 3  # strict: the points at exactly 0.25 do not count
    np.testing.assert_allclose(f_scores(gt, pred, [0.25]), [[2 * precision * recall / (precision + recall)]])
    # just above the threshold both count
    p2, r2 = 1.0, 2 / 3
    np.testing.assert_allclose(f_scores(gt, pred, [0.2500001]), [[2 * p2 * r2 / (p2 + r2)]])


def test_refine_clamps_the_closed_form_root_fed_to_the_mlp(batch):
    """root_clamp bounds the closed-form root (units of s); the synthetic hands' roots lie near 20-30."""
    head = _head(root_clamp=(4.0, 10.0)).eval()
    _silent_mlp(head)
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in batch])
    input_K = torch.as_tensor(np.concatenate([d.gt_instances.input_K for d in batch]))
    np.testing.assert_array_equal(head.refine(labels, input_K).detach().numpy(), np.full(3, 10.0, np.float32))
