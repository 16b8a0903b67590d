"""PeCLR model: SimCLR equivalence, equivariance of the exact inverse through the real pipeline, the
release's formula for the official mode, configuration errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from aug_matrices import aug_data_samples, random_aug_norm
from mmpretrain.registry import DATASETS, MODELS
from mmpretrain.structures import DataSample
from torch import nn

import peclr_mm.selfsup  # noqa: F401
from peclr_mm.selfsup import PeCLR
from peclr_mm.selfsup.equivariance import decompose_similarity

BACKBONE = dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'))
NECK = dict(type='NonLinearNeck', in_channels=512, hid_channels=32, out_channels=16, num_layers=2,
            with_bias=True, with_last_bn=False, norm_cfg=dict(type='BN1d'))
HEAD = dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.5)


def _aug_norm(n: int, seed: int, **kwargs) -> torch.Tensor:
    """:func:`aug_matrices.random_aug_norm` as a float32 tensor (what the model receives)."""
    return torch.tensor(random_aug_norm(n, seed, **kwargs), dtype=torch.float32)


def test_nothing_undone_equals_mmpretrain_simclr():
    torch.manual_seed(0)
    simclr = MODELS.build(dict(type='SimCLR', backbone=BACKBONE, neck=NECK, head=HEAD))
    peclr = MODELS.build(dict(type='PeCLR', backbone=BACKBONE, neck=NECK, head=HEAD, undo=()))
    peclr.load_state_dict(simclr.state_dict())
    inputs = [torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)]
    samples = aug_data_samples(_aug_norm(8, seed=1))
    ref = simclr.loss(inputs, samples)['loss']
    ref.backward()
    out = peclr.loss(inputs, samples)['loss']
    out.backward()
    assert abs(out.item() - ref.item()) <= 1e-6
    for (name, p), q in zip(simclr.named_parameters(), peclr.parameters()):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-6, rtol=1e-5, msg=name)
    # identity augmentations undone exactly are nothing undone as well
    exact = MODELS.build(dict(type='PeCLR', backbone=BACKBONE, neck=NECK, head=HEAD,
                              undo=('rotate', 'translate', 'scale', 'flip')))
    exact.load_state_dict(simclr.state_dict())
    ident = torch.eye(3).expand(8, 3, 3).contiguous()
    assert abs(exact.loss(inputs, aug_data_samples(ident))['loss'].item() - ref.item()) <= 1e-6


class MarkerEncoder(nn.Module):
    """Latent points = normalised coordinates of a red and a green marker (intensity-weighted centroid)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 3, H, W) BGR, 0-255
        B, _, H, W = x.shape
        L = float(max(H, W))
        ys, xs = torch.meshgrid(torch.arange(H, dtype=x.dtype), torch.arange(W, dtype=x.dtype), indexing='ij')
        pts = []
        for c in (2, 1):
            others = [o for o in range(3) if o != c]
            w = (x[:, c] - x[:, others].amax(1)).clamp(min=0) ** 2
            w = w / w.sum((1, 2), keepdim=True)
            pts += [((w * xs).sum((1, 2)) - (W - 1) / 2) / L, ((w * ys).sum((1, 2)) - (H - 1) / 2) / L]
        return torch.stack(pts, 1)  # (B, 4): two 2-D points


def _two_marker_dataset(tmp_path, pipeline_views):
    img = np.random.default_rng(0).integers(0, 20, (224, 224, 3)).astype(np.uint8)
    cv2.circle(img, (138, 92), 4, (0, 0, 255), -1)
    cv2.circle(img, (88, 130), 4, (0, 255, 0), -1)
    cv2.imwrite(str(tmp_path / 'hand.png'), img)
    pipeline = [dict(type='LoadHandImage'), dict(type='MultiViewTracked', num_views=2, transforms=[pipeline_views]),
                dict(type='PackPeCLRInputs')]
    return DATASETS.build(dict(type='HandImageFolder', data_root=str(tmp_path), pipeline=pipeline))


def _canonical_gap(ds, model, trials=12, size=96):
    """Max distance (view pixels) between the two views' canonical marker points, over ``trials`` samples."""
    enc, gaps = MarkerEncoder(), []
    for _ in range(trials):
        packed = ds[0]
        x = torch.stack(packed['inputs']).float()
        canon = model.canonicalize(enc(x), packed['data_samples'].aug_norm)
        gaps.append((canon[0] - canon[1]).norm(dim=-1).max().item() * size)
    return max(gaps), float(np.mean(gaps))


def _model(**kw):
    return PeCLR(backbone=BACKBONE, neck=NECK, head=HEAD, **kw)


@pytest.mark.parametrize('scale_flip', [False, True])
def test_exact_inverse_makes_marker_points_agree(tmp_path, scale_flip):
    views = [dict(type='TrackedCrop', size=96, margin=1.1),
             dict(type='TrackedRandomAffine', max_angle=45, shift=(0, 12),
                  margin=(0.9, 1.5) if scale_flip else 1.0, flip_prob=0.5 if scale_flip else 0.0),
             dict(type='TrackedWarp')]
    ds = _two_marker_dataset(tmp_path, views)
    undo = ('rotate', 'translate', 'scale', 'flip') if scale_flip else ('rotate', 'translate')
    np.random.seed(0)
    worst, _ = _canonical_gap(ds, _model(undo=undo))
    np.random.seed(0)
    _, mean_raw = _canonical_gap(ds, _model(undo=()))
    assert worst < 1.0, f'canonical points of the two views differ by {worst:.2f} px after the exact inverse'
    assert mean_raw > 8.0, f'views too similar to test anything ({mean_raw:.2f} px without the inverse)'


def _release_undo(z: torch.Tensor, shift: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The release's hybrid2 steps, written from its formulas: normalise; x += -d_x * range_x (d: normalised
    content displacement); rotate by the cv2 matrix of angle -a about the detached centroid (a: the
    cv2 image-rotation angle in degrees, here -theta); normalise."""
    B = z.size(0)
    p = nn.functional.normalize(z).view(B, -1, 2).clone()
    rng = p.detach().amax(1) - p.detach().amin(1)
    p[..., 0] += (-shift[:, 0] * rng[:, 0])[:, None]
    p[..., 1] += (-shift[:, 1] * rng[:, 1])[:, None]
    image_angle = -torch.rad2deg(theta)  # cv2.getRotationMatrix2D angle of the view's rotation
    a = torch.deg2rad(-image_angle)  # rotate_encoding(encoding, -angles)
    alpha, beta = torch.cos(a), torch.sin(a)
    c = p.detach().mean(1)
    rot = torch.zeros(B, 3, 2)
    rot[:, :, 0] = torch.stack([alpha, beta, (1 - alpha) * c[:, 0] - beta * c[:, 1]], 1)
    rot[:, :, 1] = torch.stack([-beta, alpha, (1 - alpha) * c[:, 1] + beta * c[:, 0]], 1)
    p = torch.bmm(torch.cat([p, torch.ones_like(p[..., :1])], 2), rot)
    return nn.functional.normalize(p.reshape(B, -1))


def test_official_mode_matches_the_release_formula():
    torch.manual_seed(0)
    z = torch.randn(6, 16)
    aug = _aug_norm(6, seed=3)
    parts = decompose_similarity(aug)
    model = _model(mode='official')
    assert model.normalize == 'both'
    ours = nn.functional.normalize(model.canonicalize(z, aug).flatten(1))
    torch.testing.assert_close(ours, _release_undo(z, parts['shift'], parts['theta']), atol=1e-6, rtol=1e-5)


def test_decomposition_recovers_the_parts():
    G = _aug_norm(5, seed=4, scale=(0.6, 1.2), flip=True)
    p = decompose_similarity(G)
    c, s = torch.cos(p['theta']), torch.sin(p['theta'])
    R = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2) * p['scale'][:, None, None]
    F = torch.where(p['flip'][:, None, None], torch.diag(torch.tensor([-1.0, 1.0])), torch.eye(2))
    torch.testing.assert_close(R @ F, G[:, :2, :2], atol=1e-5, rtol=1e-5)


def test_bad_configuration_lists_valid_choices():
    with pytest.raises(ValueError, match=r"valid: \['rotate', 'translate', 'scale', 'flip'\]"):
        _model(undo=('rotate', 'shear'))
    with pytest.raises(ValueError, match=r"valid: \['exact', 'official'\]"):
        _model(mode='approx')
    with pytest.raises(ValueError, match=r"valid: \['after', 'both'\]"):
        _model(normalize='before')
    m = _model()
    assert (m.mode, m.normalize, m.undo) == ('exact', 'after', ('rotate', 'translate'))
    with pytest.raises(KeyError, match='aug_norm'):
        m.loss([torch.randn(2, 3, 32, 32)] * 2, [DataSample(), DataSample()])


def test_bad_inputs_fail_with_one_clear_line():
    with pytest.raises(ValueError, match="neck's output size 15 must be even"):
        PeCLR(backbone=BACKBONE, neck=dict(NECK, out_channels=15), head=HEAD)
    m = _model()
    views = [torch.randn(2, 3, 32, 32)] * 2
    with pytest.raises(ValueError, match=r'a list of 2 views.*got a Tensor of shape \(2, 2, 3, 32, 32\)'):
        m.loss(torch.stack(views, 1), aug_data_samples(_aug_norm(4, seed=0)))
    with pytest.raises(ValueError, match='exactly 2 views per image, got 3'):
        m.loss(views + views[:1], aug_data_samples(_aug_norm(4, seed=0)))
    with pytest.raises(ValueError, match='at least 2 images .* got 1'):
        m.loss([v[:1] for v in views], aug_data_samples(_aug_norm(2, seed=0)))
    bad = _aug_norm(4, seed=0)
    bad[1, 0, 0] = float('nan')
    with pytest.raises(ValueError, match='data sample 0: "aug_norm" is not finite'):
        m.loss(views, aug_data_samples(bad))
    wrong = [DataSample() for _ in range(2)]
    for ds in wrong:
        ds.set_field(torch.eye(3), 'aug_norm')
    with pytest.raises(ValueError, match=r'"aug_norm" must be \(2, 3, 3\).*got \(3, 3\)'):
        m.loss(views, wrong)


def test_package_import_registers_everything_without_mmpose():
    import subprocess
    import sys
    code = ("import sys, torch.serialization as ts, peclr_mm.selfsup\n"
            "from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS\n"
            "from mmengine.logging import HistoryBuffer\n"
            "assert 'mmpose' not in sys.modules\n"
            "assert HistoryBuffer in ts.get_safe_globals()\n"
            "names = [(TRANSFORMS, n) for n in ('LoadHandImage', 'TrackedCrop', 'TrackedRandomAffine', 'TrackedWarp',"
            " 'HSVColorJitter', 'RandomGaussianNoise', 'MultiViewTracked', 'PackPeCLRInputs')]\n"
            "names += [(DATASETS, n) for n in ('FreiHandImages', 'YouTube3DHands', 'HandImageFolder',"
            " 'MixedHandDataset')] + [(MODELS, 'PeCLR')]\n"
            "missing = [n for r, n in names if r.get(n) is None]\n"
            "assert not missing, missing\n")
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
