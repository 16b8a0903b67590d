"""Exact checks of PeCLR's loss path against independent formulas (issue 21's surviving mutants): the loss
on points canonicalised by hand, and the equivariance monitor following the model's inverse."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from aug_matrices import aug_data_samples, random_aug_norm
from mmpretrain.registry import MODELS

import peclr_mm.selfsup  # noqa: F401
from peclr_mm.selfsup import EquivarianceMonitorHook

BACKBONE = dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'))
NECK = dict(type='NonLinearNeck', in_channels=512, hid_channels=32, out_channels=16, num_layers=2,
            with_bias=True, with_last_bn=False, norm_cfg=dict(type='BN1d'))


def _peclr(**kw):
    torch.manual_seed(0)
    return MODELS.build(dict(type='PeCLR', backbone=BACKBONE, neck=NECK, data_preprocessor=dict(
        type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.5), **kw))


def _nt_xent(z: np.ndarray, temperature: float) -> float:
    """NT-Xent over rows (2n, D), views 2i and 2i + 1 positive, every other row a negative."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T / temperature
    loss = []
    for r in range(len(z)):
        others = np.delete(sim[r], r)
        loss.append(-(sim[r, r ^ 1] - np.log(np.exp(others).sum())))
    return float(np.mean(loss))


def test_loss_is_nt_xent_on_points_canonicalised_by_hand():
    """Each view's 8 latent points undone with *its own* rotation and shift, q = R^T (p - t), then NT-Xent."""
    model = _peclr(undo=('rotate', 'translate'), mode='exact').train()
    n = 4
    inputs = [torch.randn(n, 3, 32, 32), torch.randn(n, 3, 32, 32)]
    aug = random_aug_norm(2 * n, seed=5)  # rows 2i, 2i + 1: image i's two views
    loss = model.loss(inputs, aug_data_samples(aug))['loss'].item()
    with torch.no_grad():  # train-mode BN on the same batch: the same projections as inside loss()
        z = model.neck(model.backbone(torch.stack(inputs, 1).flatten(0, 1)))[0].double().numpy()
    points = z.reshape(2 * n, -1, 2)
    canon = np.stack([(p - G[:2, 2]) @ G[:2, :2] for p, G in zip(points, aug)])  # row form of R^T (p - t)
    assert abs(loss - _nt_xent(canon.reshape(2 * n, -1), 0.5)) < 1e-5
    # and not the loss of the views undone with each other's matrices, nor of nothing undone
    swapped = np.stack([(p - G[:2, 2]) @ G[:2, :2] for p, G in zip(points, aug[np.arange(2 * n) ^ 1])])
    assert abs(loss - _nt_xent(swapped.reshape(2 * n, -1), 0.5)) > 1e-3
    assert abs(loss - _nt_xent(z, 0.5)) > 1e-3


def test_equivariance_monitor_follows_the_models_inverse():
    n = 6
    batch = dict(inputs=[torch.randint(0, 255, (n, 3, 32, 32), dtype=torch.uint8) for _ in range(2)],
                 data_samples=aug_data_samples(random_aug_norm(2 * n, seed=2)))
    measured = {}
    for mode in ('official', 'exact'):
        model = _peclr(mode=mode).eval()
        measured[mode] = EquivarianceMonitorHook(bn_modes=('eval',)).measure(model, batch)
        explicit = EquivarianceMonitorHook(bn_modes=('eval',), mode=mode).measure(model, batch)
        assert measured[mode]['equivariance/eval_undone'] == explicit['equivariance/eval_undone']
    official, exact = measured['official'], measured['exact']
    assert abs(official['equivariance/eval_undone'] - exact['equivariance/eval_undone']) > 1e-4
    assert abs(official['equivariance/eval_raw'] - exact['equivariance/eval_raw']) < 1e-6  # nothing undone


def test_official_inverse_with_scale_and_flip_and_no_first_normalisation():
    """mode='official', normalize='after': shift by t x the (detached) point range, then the inverse of
    the linear part (rotation, scale, flip) about the (detached) centroid, q = A^-1 (p - c) + c."""
    from peclr_mm.selfsup.equivariance import canonicalize
    torch.manual_seed(1)
    z = torch.randn(6, 16, dtype=torch.float64)
    aug = random_aug_norm(6, seed=9, scale=(0.6, 1.4), flip=True)
    assert (np.linalg.det(aug[:, :2, :2]) < 0).any()  # some views are mirrored
    ours = canonicalize(z, torch.as_tensor(aug), ('rotate', 'translate', 'scale', 'flip'), 'official', 'after')
    for p, q, G in zip(z.numpy().reshape(6, -1, 2), ours.numpy(), aug):
        p = p - G[:2, 2] * (p.max(0) - p.min(0))
        c = p.mean(0)
        # the parts are decomposed in float32 (equivariance.canonicalize)
        np.testing.assert_allclose(q, (p - c) @ np.linalg.inv(G[:2, :2]).T + c, atol=1e-6)


def test_lars_exclusion_by_type_without_flat_parameters():
    """exclude_flat=False: only normalisation layers (GroupNorm here) and biases (also '*_bias') are
    excluded; other 1-D parameters are adapted and decayed."""
    from torch import nn

    from peclr_mm.selfsup.lars_constructor import excluded_parameter_names

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.gn = nn.GroupNorm(2, 4)
            self.gamma = nn.Parameter(torch.ones(4))
            self.pos_bias = nn.Parameter(torch.zeros(4))

    names = excluded_parameter_names(Net(), exclude_flat=False)
    assert names == {'conv.bias', 'gn.weight', 'gn.bias', 'pos_bias'}
    assert excluded_parameter_names(Net(), exclude_flat=True) == names | {'gamma'}


def test_pair_agreement_and_effective_rank_against_numpy():
    """The monitor's numbers: mean positive-pair cosine of hand-canonicalised / raw points, and exp of the
    entropy of the normalised singular values (k equal singular values: rank k)."""
    from peclr_mm.selfsup import effective_rank, pair_agreement
    torch.manual_seed(3)
    z = torch.randn(5, 2, 16, dtype=torch.float64)
    aug = random_aug_norm(10, seed=4)
    got = pair_agreement(z, torch.as_tensor(aug).view(5, 2, 3, 3))
    pts = z.numpy().reshape(10, -1, 2)
    canon = np.stack([(p - G[:2, 2]) @ G[:2, :2] for p, G in zip(pts, aug)]).reshape(5, 2, -1)

    def cos(x):
        x = x / np.linalg.norm(x, axis=-1, keepdims=True)
        return float((x[:, 0] * x[:, 1]).sum(-1).mean())

    assert got['undone'] == pytest.approx(cos(canon), abs=1e-6)
    assert got['raw'] == pytest.approx(cos(z.numpy()), abs=1e-6)
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(16, 16)))[0]
    for k in (1, 3, 7):
        feats = np.random.default_rng(k).choice([-1.0, 1.0], size=(400, k)) @ basis[:k]  # ~equal spread
        s = np.linalg.svd(feats - feats.mean(0), compute_uv=False)
        p = s / s.sum()
        p = p[p > 0]
        assert effective_rank(torch.as_tensor(feats)) == pytest.approx(float(np.exp(-(p * np.log(p)).sum())),
                                                                     rel=1e-6)
        assert effective_rank(torch.as_tensor(feats)) == pytest.approx(k, rel=0.1)
