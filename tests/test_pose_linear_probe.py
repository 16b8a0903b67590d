"""Linear probe of a frozen backbone: ridge against numpy's lstsq, scoring of exact and shifted
predictions, feature extraction against a hand-made preprocessing, and the probe end to end (core and CLI)
on a rendered synthetic FreiHAND set, with random weights and with an exported backbone file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

import peclr_mm.pose  # noqa: F401
from peclr_mm.geometry import bone_length, project
from peclr_mm.pose import Hand25D
from peclr_mm.pose.linear_probe import (
    DEFAULT_LAMBDAS,
    TABLE_COLUMNS,
    encode_labels,
    extract_features,
    fit_ridge,
    format_table,
    linear_probe,
    load_backbone_weights,
    probe_scores,
    select_ridge,
    uv_error,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / 'configs' / 'demo' / 'td-reg25d_res18-w32_1xb32-500it_synth-freihand3d-64x64.py'


def _independent_ridge(X, Y, lam, X_new):
    """Ridge with an unpenalised intercept as one augmented least-squares problem (numpy's lstsq):
    minimise |[Xs 1] theta - Y|^2 + lam |w|^2 on features standardised with X's statistics."""
    mean, std = X.mean(0), X.std(0)
    Xs = np.hstack([(X - mean) / std, np.ones((len(X), 1))])
    Yf = Y.reshape(len(Y), -1)
    d = X.shape[1]
    A = np.vstack([Xs, np.hstack([np.sqrt(lam) * np.eye(d), np.zeros((d, 1))])])
    theta = np.linalg.lstsq(A, np.vstack([Yf, np.zeros((d, Yf.shape[1]))]), rcond=None)[0]
    return (np.hstack([(X_new - mean) / std, np.ones((len(X_new), 1))]) @ theta).reshape(
        (len(X_new),) + Y.shape[1:])


def _linear_data(rng, n, d=12, noise=0.0):
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d) + rng.uniform(-5, 5, d)
    A, b = rng.normal(size=(d, 6)), rng.normal(size=6)
    Y = (X @ A + b + noise * rng.normal(size=(n, 6))).reshape(n, 2, 3)
    return X, Y, A, b


def test_fit_ridge_recovers_a_linear_map_and_matches_lstsq():
    rng = np.random.default_rng(0)
    X, Y, A, b = _linear_data(rng, 200)
    X_new = rng.normal(size=(50, 12)) * 3
    model = fit_ridge(X, Y, 1e-12)
    np.testing.assert_allclose(model.predict(X_new), (X_new @ A + b).reshape(50, 2, 3), atol=1e-8)
    # weights in the original feature units equal the least-squares solution of [X 1]
    theta = np.linalg.lstsq(np.hstack([X, np.ones((200, 1))]), Y.reshape(200, 6), rcond=None)[0]
    np.testing.assert_allclose(model.weight / model.std[:, None], theta[:-1], atol=1e-9)
    np.testing.assert_allclose(model.bias - (model.mean / model.std) @ model.weight, theta[-1], atol=1e-9)
    # a real penalty: the same as the augmented least-squares formula; the intercept stays unpenalised
    for lam in (3.0, 1e4):
        np.testing.assert_allclose(fit_ridge(X, Y, lam).predict(X_new), _independent_ridge(X, Y, lam, X_new),
                                   rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit_ridge(X, Y, 1e12).predict(X_new), np.broadcast_to(Y.mean(0), (50, 2, 3)),
                               atol=1e-6)
    with pytest.raises(ValueError, match='non-finite'):
        fit_ridge(np.where(np.eye(200, 12) > 0, np.nan, X), Y, 1.0)


def test_fit_ridge_with_more_features_than_images_and_without_penalty():
    """N < D: the penalised fits (the N x N Gram path) equal the augmented least squares; lambda 0 (the SVD
    path) is the minimum-norm interpolant, numpy's lstsq on the standardised, centred features."""
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(30, 80)) * rng.uniform(0.5, 4, 80), rng.normal(size=(30, 2, 3))
    X_new = rng.normal(size=(7, 80))
    for lam in (0.5, 50.0):
        np.testing.assert_allclose(fit_ridge(X, Y, lam).predict(X_new), _independent_ridge(X, Y, lam, X_new),
                                   rtol=1e-8, atol=1e-9)
    model = fit_ridge(X, Y, 0.0)
    Xs = (X - X.mean(0)) / X.std(0)
    w = np.linalg.lstsq(Xs, Y.reshape(30, 6) - Y.reshape(30, 6).mean(0), rcond=None)[0]
    np.testing.assert_allclose(model.weight, w, atol=1e-9)
    np.testing.assert_allclose(model.predict(X), Y, atol=1e-8)  # interpolates the training targets


def test_select_ridge_picks_small_lambda_without_noise_and_larger_with_noise():
    lambdas = (1e-10, 1e-3, 1.0, 10.0, 100.0, 1e3, 1e4)
    rng = np.random.default_rng(1)
    X, Y, A, b = _linear_data(rng, 120)
    model, errors = select_ridge(X[:90], Y[:90], X[90:], Y[90:], lambdas)
    assert model.lam == 1e-10 and errors[1e-10] < 1e-8
    np.testing.assert_allclose(model.predict(X), Y, atol=1e-6)
    # few noisy samples for 30 features: the held-out error prefers shrinkage
    X, Y, _, _ = _linear_data(np.random.default_rng(2), 70, d=30, noise=20.0)
    model, errors = select_ridge(X[:40], Y[:40], X[40:], Y[40:], lambdas)
    assert model.lam > 1.0 and errors[model.lam] == min(errors.values())
    # each candidate's error is that of a ridge fitted on the first part; the result is refitted on all
    for lam in lambdas:
        assert errors[lam] == pytest.approx(uv_error(_independent_ridge(X[:40], Y[:40], lam, X[40:]), Y[40:]),
                                            rel=1e-8)
    np.testing.assert_allclose(model.predict(X[:5]), _independent_ridge(X, Y, model.lam, X[:5]), atol=1e-9)


@pytest.fixture(scope='module')
def hands():
    """(N, 21, 3) procedural hands in metres, their 224-px intrinsics, and those of a 64-px input crop."""
    from peclr_lab.synthetic import forward_kinematics, place_hand, sample_articulation, sample_shape
    rng = np.random.default_rng(0)
    scenes = [place_hand(rng, forward_kinematics(sample_shape(rng), sample_articulation(rng)), 224)
              for _ in range(12)]
    xyz = np.stack([s.hand.joints for s in scenes])
    crop = np.array([[64 / 200, 0, -12 * 64 / 200], [0, 64 / 200, -12 * 64 / 200], [0, 0, 1]])
    input_K = np.stack([crop @ s.K for s in scenes])
    return xyz, input_K, bone_length(xyz)


def test_probe_scores_zero_for_exact_and_known_for_shifted_predictions(hands):
    xyz, input_K, scale = hands
    codec = Hand25D(input_size=(64, 64))
    labels = encode_labels(codec, xyz, input_K, scale)
    # Hand25D.encode returns float32 labels: exact up to 64 px * 2^-24 in the input, ~1e-5 mm in 3-D
    near = probe_scores(labels, input_K, scale, xyz, codec)
    assert near['uv_px'] < 1e-5 and near['PA-EPE'] < 1e-4 and near['EPE'] < 1e-3 and near['z_rel_mm'] < 1e-5
    # joints whose labels float32 holds exactly (decoded in float64): scores of a perfect prediction
    xyz, _ = codec.decode(labels, input_K, scale)
    labels = encode_labels(codec, xyz, input_K, scale)
    exact = probe_scores(labels, input_K, scale, xyz, codec)
    assert exact['uv_px'] < 1e-6 and exact['EPE'] < 1e-6 and exact['RR-EPE'] < 1e-6
    # the official alignment adds 1e-8 m to both norms: it shrinks a perfect prediction by ~1e-7
    assert exact['PA-EPE'] < 1e-5
    assert exact['z_rel_mm'] < 1e-6 and exact['kp-F@5mm'] == 1.0 and exact['kp-PA-F@5mm'] == 1.0
    # every error within the first of the 100 AUC thresholds (0 mm, then 0.505 mm): at most half a step lost
    assert min(exact['AUC'], exact['PA-AUC']) >= 1 - 0.5 / 99 - 1e-12
    # a (3, 4) px shift of every joint: 5 px; all non-root depths off by 0.1 bone: 100 s mm on average
    shifted = labels + np.array([3 / 64, 4 / 64, 0.0])
    shifted[:, 1:, 2] += 0.1
    res = probe_scores(shifted, input_K, scale, xyz, codec)
    assert res['uv_px'] == pytest.approx(5.0, abs=1e-5)
    assert res['z_rel_mm'] == pytest.approx(100 * scale.mean(), rel=1e-5)
    # the root-relative error is the 3-D distance of the decoded root-relative joints, computed here
    pred, _ = codec.decode(shifted, input_K, scale)
    rel = (pred - pred[:, :1]) - (xyz - xyz[:, :1])
    assert res['RR-EPE'] == pytest.approx(np.linalg.norm(rel, axis=-1).mean() * 1000, rel=1e-9)
    with pytest.raises(ValueError, match='differ in shape'):
        probe_scores(labels[:, :20], input_K, scale, xyz, codec)


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    """A rendered synthetic FreiHAND set: 12 training samples x 4 versions, 8 evaluation samples."""
    from peclr_lab.synthetic import make_synthetic_freihand
    return make_synthetic_freihand(tmp_path_factory.mktemp('probe') / 'fh', 12, 8, size=96, seed=0,
                                   progress=False)


def _cfg(root: Path) -> Config:
    cfg = Config.fromfile(str(DEMO))
    for split in ('train', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = str(root)
    return cfg


def test_extract_features_applies_the_data_preprocessor(synth):
    from mmengine.dataset import pseudo_collate
    from mmpose.registry import DATASETS, MODELS
    from mmpose.structures.bbox import get_warp_matrix
    cfg = _cfg(synth)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    items = [ds[i] for i in range(5)]
    out = extract_features(model, [pseudo_collate(items[:3]), pseudo_collate(items[3:])])
    assert model.training  # the mode is restored
    # by hand: BGR uint8 -> RGB, ImageNet mean/std, backbone, global average of the last map
    img = torch.stack([it['inputs'] for it in items]).flip(1).float()
    mean, std = torch.tensor([123.675, 116.28, 103.53]), torch.tensor([58.395, 57.12, 57.375])
    model.eval()
    with torch.no_grad():
        ref = model.backbone((img - mean[:, None, None]) / std[:, None, None])[-1].mean((2, 3)).double()
    assert out['features'].dtype == np.float64 and out['features'].shape == (5, 256)
    np.testing.assert_allclose(out['features'], ref.numpy(), rtol=1e-5, atol=1e-6)
    for i in range(5):
        info = ds.get_data_info(i)
        np.testing.assert_array_equal(out['keypoints_cam'][i], info['keypoints_cam'][0])
        assert out['hand_scale'][i] == info['hand_scale'][0]
        # input_K = A K with A mmpose's crop warp of this sample's box
        meta = items[i]['data_samples'].metainfo
        warp = get_warp_matrix(meta['input_center'], meta['input_scale'], 0.0, output_size=(64, 64))
        np.testing.assert_allclose(out['input_K'][i], np.vstack([warp, [0, 0, 1]]) @ info['K'][0], rtol=1e-9)
        uv = project(out['keypoints_cam'][i], out['input_K'][i])
        assert (uv > 0).all() and (uv < 64).all()


@pytest.fixture(scope='module')
def backbone_file(synth, tmp_path_factory):
    """Backbone weights of another initialisation in ``tools/export_backbone.py``'s format
    (``{'state_dict': {'backbone.*': tensor}, 'meta': {...}}``; written here so that the mmpose half's
    tests do not import mmpretrain)."""
    from mmpose.registry import MODELS
    torch.manual_seed(123)
    model = MODELS.build(_cfg(synth).model)
    model.init_weights()
    for m in model.backbone.modules():  # non-default BN statistics, so that loading them matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    path = tmp_path_factory.mktemp('ckpt') / 'backbone.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in model.backbone.state_dict().items()},
                'meta': dict(source='test', prefix='backbone.', converter='peclr_mm export_backbone')}, path)
    return path, model.backbone.state_dict()


def test_format_table_rows_and_columns():
    res = {'probe': {k: float(i) for i, (k, _) in enumerate(TABLE_COLUMNS)},
           'mean_pose': {k: 1 / 3 for k, _ in TABLE_COLUMNS}}
    assert format_table(res).split('\n') == [
        '| | uv px | z_rel mm | RR-EPE mm | EPE mm | PA-EPE mm | PA-AUC |',
        '|---|---|---|---|---|---|---|',
        '| linear probe | 0.000 | 1.000 | 2.000 | 3.000 | 4.000 | 5.000 |',
        '| mean pose | 0.333 | 0.333 | 0.333 | 0.333 | 0.333 | 0.333 |']


def test_linear_probe_random_weights_end_to_end(synth):
    res = linear_probe(_cfg(synth), num_eval=6, seed=0)
    assert (res['num_train'], res['num_eval'], res['feature_dim']) == (48, 6, 256)
    assert res['lambda'] in DEFAULT_LAMBDAS and res['seconds'] > 0
    for name in ('probe', 'mean_pose'):
        s = res[name]
        assert all(np.isfinite(v) for v in s.values()), s
        assert 0 < s['PA-EPE'] < s['EPE'] and s['uv_px'] > 0 and 0 <= s['PA-AUC'] <= 1
    again = linear_probe(_cfg(synth), num_eval=6, seed=0)
    assert again['probe'] == res['probe'] and again['lambda'] == res['lambda']


def test_checkpoint_loads_strictly_and_cli_writes_json(synth, backbone_file, tmp_path):
    from mmpose.registry import MODELS
    path, state = backbone_file
    model = MODELS.build(_cfg(synth).model)
    load_backbone_weights(model.backbone, str(path))
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, state[k]), k

    out = tmp_path / 'res' / 'probe.json'
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'linear_probe.py'), str(DEMO), '--checkpoint',
                           str(path), '--data-root', str(synth), '--num-train', '40', '--num-eval', '6',
                           '--out', str(out)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert '| linear probe |' in proc.stdout and '| mean pose |' in proc.stdout
    saved = json.loads(out.read_text())
    assert saved['checkpoint'] == str(path) and (saved['num_train'], saved['num_eval']) == (40, 6)
    assert all(np.isfinite(v) for v in saved['probe'].values())
    assert not [p for p in out.parent.iterdir() if p.name != 'probe.json']  # no temporary left behind
    # the same numbers in process: the checkpoint's weights were used
    res = linear_probe(_cfg(synth), checkpoint=str(path), num_train=40, num_eval=6)
    for k, v in res['probe'].items():
        assert saved['probe'][k] == pytest.approx(v, rel=1e-6, abs=1e-9), k
    rand = linear_probe(_cfg(synth), num_train=40, num_eval=6)
    assert rand['probe']['uv_px'] != res['probe']['uv_px']


def test_cli_bad_checkpoint_gives_one_line_error(synth, tmp_path):
    bad = tmp_path / 'head_only.pth'
    torch.save({'state_dict': {'head.fc.weight': torch.zeros(3, 3)}, 'meta': {}}, bad)
    wrong = tmp_path / 'wrong_shape.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(3, 3)}}, wrong)
    cases = [(bad, ['head_only.pth', 'backbone.*', "'head.fc.weight'"]),
             (wrong, ['wrong_shape.pth', 'missing']),
             (tmp_path / 'absent.pth', ['absent.pth', 'not found'])]
    procs = [subprocess.Popen([sys.executable, str(ROOT / 'tools' / 'linear_probe.py'), str(DEMO), '--checkpoint',
                               str(ckpt), '--data-root', str(synth), '--out', str(tmp_path / f'never{i}.json')],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, (ckpt, _) in enumerate(cases)]  # at once: each is mostly the import of mmpose
    for i, (proc, (_, words)) in enumerate(zip(procs, cases)):
        err = proc.communicate(timeout=300)[1]
        assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
        assert all(w in err for w in words), err
        assert not (tmp_path / f'never{i}.json').exists()
