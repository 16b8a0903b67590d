"""The geometry probe: a known orientation and a known linear map recovered from synthetic features, chance
level from random ones, ridge against its closed form (numpy.linalg.solve), k-NN against a brute-force
search, the angle wrap-around, the mean-pose baseline, and tools/linear_probe.py --geometry end to end on a
rendered synthetic FreiHAND set with a pretraining checkpoint (backbone + projection neck) and a control."""
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
from peclr_mm.freihand.scorer import keypoint_scores
from peclr_mm.geometry import project
from peclr_mm.pose.linear_probe import (
    GEOMETRY_TARGETS,
    angle_error_deg,
    budget_split,
    fit_knn,
    fit_ridge,
    format_geometry_table,
    geometry_probe,
    geometry_targets,
    hand_orientation,
    mean_pose_rows,
    orientation_error,
    pa_epe,
    select_knn,
    select_ridge,
    uv_error,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / 'configs' / 'demo' / 'td-reg25d_res18-w32_1xb32-500it_synth-freihand3d-64x64.py'
PRETRAIN = ROOT / 'configs' / 'demo' / 'peclr_resnet18-w32_1xb64-400it_synth-freihand-64px.py'


def _targets(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Random hands: uniform in-plane orientation, 2-D joints in a 64 px input, root-relative 3-D joints."""
    angle = rng.uniform(-np.pi, np.pi, n)
    uv = rng.uniform(8, 56, (n, 21, 2))
    uv[:, 9] = uv[:, 0] + rng.uniform(5, 15, (n, 1)) * np.stack([np.cos(angle), np.sin(angle)], -1)
    xyz = rng.normal(0, 0.03, (n, 21, 3))
    xyz[:, 0] = 0
    return {'orientation': np.stack([np.cos(angle), np.sin(angle)], -1), 'uv': uv, 'xyz_rel': xyz}


def _flat(t: dict[str, np.ndarray]) -> np.ndarray:
    """The targets as (N, 107) latents: (cos, sin), 2-D joints in px, 3-D joints in mm."""
    n = len(t['uv'])
    return np.hstack([t['orientation'], t['uv'].reshape(n, -1), 1000 * t['xyz_rel'].reshape(n, -1)])


def test_angle_error_wraps_around_and_orientation_reads_atan2():
    deg = np.deg2rad
    np.testing.assert_allclose(angle_error_deg(deg([179, -179, 10, 0, 90]), deg([-179, 179, 350, 180, -90])),
                               [2, 2, 20, 180, 180], atol=1e-9)
    cs = lambda a: np.stack([np.cos(deg(a)), np.sin(deg(a))], -1)  # noqa: E731
    # the vectors' length does not matter: atan2 reads the direction
    assert orientation_error(5 * cs(np.array([179.0, 30])), cs(np.array([-179.0, 40]))) == pytest.approx(6.0)
    # wrist at (10, 10), middle MCP straight below (image v down): +90 degrees; to the left: 180
    uv = np.zeros((2, 21, 2))
    uv[:, 0] = 10
    uv[0, 9], uv[1, 9] = (10, 30), (0, 10)
    np.testing.assert_allclose(np.rad2deg(hand_orientation(uv)), [90, 180])


def test_geometry_targets_and_pa_epe_use_the_freihand_core():
    rng = np.random.default_rng(0)
    xyz = rng.normal(0, 0.03, (5, 21, 3)) + [0, 0, 0.6]
    K = np.tile(np.array([[100.0, 0, 32], [0, 100, 32], [0, 0, 1]]), (5, 1, 1))
    t = geometry_targets(xyz, K)
    np.testing.assert_allclose(t['uv'], project(xyz, K))
    np.testing.assert_allclose(t['xyz_rel'], xyz - xyz[:, :1])
    d = t['uv'][:, 9] - t['uv'][:, 0]
    np.testing.assert_allclose(t['orientation'], d / np.linalg.norm(d, axis=1, keepdims=True), atol=1e-12)
    pred = xyz + rng.normal(0, 0.01, xyz.shape)
    assert pa_epe(pred, xyz) == pytest.approx(keypoint_scores(xyz, pred)['PA-EPE'], rel=1e-12)
    # a similarity transform of the truth is aligned away (up to the official 1e-8 m added to the norms)
    rot = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    assert pa_epe(2.0 * xyz @ rot.T + 0.1, xyz) < 1e-4 < pa_epe(pred, xyz)


def test_ridge_matches_the_closed_form_solution():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 7)) * rng.uniform(0.5, 4, 7) + 2
    Y = X @ rng.normal(size=(7, 4)) + rng.normal(size=(80, 4))
    X_new = rng.normal(size=(10, 7))
    for lam in (0.0, 2.5, 300.0):
        mean, std = X.mean(0), X.std(0)
        Xs = (X - mean) / std
        W = np.linalg.solve(Xs.T @ Xs + lam * np.eye(7), Xs.T @ (Y - Y.mean(0)))
        np.testing.assert_allclose(fit_ridge(X, Y, lam).predict(X_new), ((X_new - mean) / std) @ W + Y.mean(0),
                                   rtol=1e-10, atol=1e-10)


def test_orientation_is_recovered_from_cos_sin_features_and_chance_from_random_ones():
    rng = np.random.default_rng(0)
    t = _targets(rng, 400)
    mix = rng.normal(size=(2, 16))  # a linear mix of (cos, sin) into 16 features, plus noise
    X = t['orientation'] @ mix + rng.normal(0, 0.01, (400, 16))
    model, errors = select_ridge(X[:240], t['orientation'][:240], X[240:300], t['orientation'][240:300],
                                 error=orientation_error)
    assert orientation_error(model.predict(X[300:]), t['orientation'][300:]) < 1.0
    assert errors[model.lam] == min(errors.values())
    noise = rng.normal(size=(400, 16))
    model, _ = select_ridge(noise[:240], t['orientation'][:240], noise[240:300], t['orientation'][240:300],
                            error=orientation_error)
    assert 75 < orientation_error(model.predict(noise[300:]), t['orientation'][300:]) < 105


def test_geometry_probe_reads_a_known_linear_map_and_not_noise():
    rng = np.random.default_rng(1)
    tr, ev = _targets(rng, 500), _targets(rng, 120)
    A = rng.normal(size=(_flat(tr).shape[1], 160))
    feats = lambda t: {'linear': _flat(t) @ A + rng.normal(0, 1e-3, (len(t['uv']), 160)),  # noqa: E731
                       'random': rng.normal(size=(len(t['uv']), 20))}
    rows = geometry_probe(feats(tr), tr, feats(ev), ev, groups=np.arange(500) // 2, budgets=(None,),
                          backbone='synthetic', lambdas=(1e-8, 1e-4, 1e-2, 1.0, 1e2))
    by = {(r['features'], r['readout']): r for r in rows}
    assert len(rows) == 4 and all(r['labels'] == 500 and r['budget'] == 'all' for r in rows)
    lin = by['linear', 'ridge']
    assert lin['orientation_deg'] < 0.5 and lin['uv_px'] < 0.05 and lin['pa_epe_mm'] < 0.1, lin
    assert lin['dim'] == 160 and lin['lambda'] == {t.column: 1e-8 for t in GEOMETRY_TARGETS}
    for readout in ('ridge', 'k-NN'):
        rnd = by['random', readout]
        assert 75 < rnd['orientation_deg'] < 105 and rnd['uv_px'] > 15, rnd
    # per target, the numbers of select_ridge / select_knn on the same split (noisy features: lambda and
    # k differ between targets)
    fit, held = budget_split(np.arange(500) // 2, None)
    X = _flat(tr) @ A[:, :30] + rng.normal(0, 30, (500, 30))
    X_ev = _flat(ev) @ A[:, :30] + rng.normal(0, 30, (120, 30))
    rows = geometry_probe({'x': X}, tr, {'x': X_ev}, ev, groups=np.arange(500) // 2, budgets=(None,))
    for t in GEOMETRY_TARGETS:
        model, _ = select_ridge(X[fit], tr[t.key][fit], X[held], tr[t.key][held], error=t.error)
        assert rows[0]['lambda'][t.column] == model.lam
        assert rows[0][t.column] == pytest.approx(t.error(model.predict(X_ev), ev[t.key]), rel=1e-9, abs=1e-12)
        knn, _ = select_knn(X[fit], tr[t.key][fit], X[held], tr[t.key][held], error=t.error)
        assert rows[1]['k'][t.column] == knn.k
        assert rows[1][t.column] == pytest.approx(t.error(knn.predict(X_ev), ev[t.key]), rel=1e-9, abs=1e-12)


def test_ridge_lambda_selection_is_sensible():
    rng = np.random.default_rng(2)
    lambdas = (1e-8, 1e-2, 1.0, 1e2, 1e4, 1e6)
    X = rng.normal(size=(120, 10))
    Y = X @ rng.normal(size=(10, 3))
    clean, _ = select_ridge(X[:90], Y[:90], X[90:], Y[90:], lambdas, error=uv_error)
    assert clean.lam == 1e-8
    Y_noisy = 0.05 * Y + rng.normal(0, 5, Y.shape)  # weak signal, strong noise: shrink hard
    X50 = np.hstack([X, rng.normal(size=(120, 40))])
    noisy, errors = select_ridge(X50[:60], Y_noisy[:60], X50[60:], Y_noisy[60:], lambdas, error=uv_error)
    assert noisy.lam >= 1e2 and errors[noisy.lam] < errors[1e-8]


def test_knn_matches_a_brute_force_search_and_chooses_k_sensibly():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 3)) * [1, 10, 100]
    Y = rng.normal(size=(60, 2, 2))
    Q = rng.normal(size=(7, 3)) * [1, 10, 100]
    mean, std = X.mean(0), X.std(0)
    for k in (1, 3, 60):
        d = np.linalg.norm((Q - mean)[:, None] / std - (X - mean)[None] / std, axis=-1)
        want = np.stack([Y[np.argsort(row, kind='stable')[:k]].mean(0) for row in d])
        np.testing.assert_allclose(fit_knn(X, Y, k).predict(Q), want, atol=1e-12)
    np.testing.assert_allclose(fit_knn(X, Y, 1).predict(X), Y)  # each training image is its own neighbour
    # a smooth noise-free target wants few neighbours, a noisy one many
    x = rng.uniform(0, 10, (400, 1))
    smooth, noisy = np.sin(x), np.sin(x) + rng.normal(0, 2, x.shape)
    assert select_knn(x[:300], smooth[:300], x[300:], smooth[300:])[0].k <= 2
    model, errors = select_knn(x[:300], noisy[:300], x[300:], noisy[300:])
    assert model.k >= 16 and errors[model.k] == min(errors.values()) and len(model.X) == 400
    with pytest.raises(ValueError, match='k must be in'):
        fit_knn(X, Y, 61)


def test_budget_split_mean_pose_and_table():
    groups = np.repeat(np.arange(50), 4)  # 50 samples x 4 image versions
    fit, held = budget_split(groups, 40, 0.25, seed=3)
    assert len(fit) + len(held) == 40 and not set(groups[fit]) & set(groups[held])
    again = budget_split(groups, 40, 0.25, seed=3)
    assert np.array_equal(fit, again[0]) and np.array_equal(held, again[1])
    fit, held = budget_split(groups, None, 0.2)
    assert len(fit) + len(held) == 200 and len(set(groups[held])) == 10
    with pytest.raises(ValueError, match=r'budgets: must be in \[1, 200\]'):
        budget_split(groups, 500)
    # orientations near +-170 deg: the circular mean is 180; the mean angle (0) would be 180 deg off
    rng = np.random.default_rng(5)
    tr, ev = _targets(rng, 200), _targets(rng, 10)
    a = np.deg2rad(np.where(np.arange(200) % 2, 170.0, -170.0))
    tr['orientation'] = np.stack([np.cos(a), np.sin(a)], -1)
    ev['orientation'] = np.tile([-1.0, 0.0], (10, 1))
    rows = mean_pose_rows(tr, ev, groups, budgets=(None, 40))
    assert [r['labels'] for r in rows] == [200, 40] and rows[0]['orientation_deg'] == pytest.approx(0, abs=1e-9)
    want = np.linalg.norm(ev['uv'] - tr['uv'].mean(0), axis=-1).mean()
    assert rows[0]['uv_px'] == pytest.approx(want, rel=1e-12)
    assert rows[0]['pa_epe_mm'] == pytest.approx(pa_epe(np.broadcast_to(tr['xyz_rel'].mean(0), (10, 21, 3)),
                                                        ev['xyz_rel']), rel=1e-12)
    table = format_geometry_table(rows).split('\n')
    assert table[0] == ('| backbone | features | readout | labels | orientation (deg) | 2-D keypoints (px) | '
                        'PA-EPE (mm) |')
    assert table[2].startswith('| mean pose |  | training mean | 200 | 0.00 | ')


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    from peclr_lab.synthetic import make_synthetic_freihand
    return make_synthetic_freihand(tmp_path_factory.mktemp('geo') / 'fh', 12, 8, size=96, seed=0, progress=False)


def _checkpoints(folder: Path) -> tuple[Path, Path]:
    """A pretraining checkpoint as mmengine writes one for PeCLR (``backbone.*``, the 256 -> 256 -> 128
    ``NonLinearNeck``'s ``neck.*``, ``meta.cfg``), and a fine-tuned top-down one (``backbone.*``, ``head.*``);
    written by hand so that this mmpose-side test does not import mmpretrain."""
    from mmpose.registry import MODELS
    torch.manual_seed(7)
    model = MODELS.build(Config.fromfile(str(DEMO)).model)
    model.init_weights()
    neck = {'fc0.weight': torch.randn(256, 256) / 16, 'fc0.bias': torch.zeros(256), 'bn0.weight': torch.ones(256),
            'bn0.bias': torch.zeros(256), 'bn0.running_mean': torch.zeros(256), 'bn0.running_var': torch.ones(256),
            'bn0.num_batches_tracked': torch.tensor(0), 'fc1.weight': torch.randn(128, 256) / 16}
    cfg_text = Config.fromfile(str(PRETRAIN), import_custom_modules=False).pretty_text
    pre, ft = folder / 'iter_4.pth', folder / 'finetuned.pth'
    state = {f'backbone.{k}': v for k, v in model.backbone.state_dict().items()}
    torch.save({'state_dict': {**state, **{f'neck.{k}': v for k, v in neck.items()}},
                'meta': {'cfg': cfg_text, 'iter': 4}}, pre)
    torch.manual_seed(8)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ft)
    return pre, ft


def test_cli_geometry_end_to_end(synth, tmp_path):
    pre, ft = _checkpoints(tmp_path)
    out = tmp_path / 'res' / 'geometry.json'
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'linear_probe.py'), str(DEMO), '--geometry',
                           '--checkpoint', f'peclr={pre}', '--control', str(ft), '--data-root', str(synth),
                           '--budgets', '20', 'all', '--num-eval', '6', '--out', str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    saved = json.loads(out.read_text())
    table = out.with_suffix('.md').read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ['geometry.json', 'geometry.md']  # no temporaries
    assert (saved['num_train'], saved['num_eval']) == (48, 6) and saved['with_projection'] == ['peclr',
                                                                                               'random weights']
    rows = saved['rows']
    arms = {(r['backbone'], r['features'], r['readout'], r['budget']) for r in rows}
    for budget in (20, 'all'):
        assert ('mean pose', '', 'training mean', budget) in arms
        for arm in ('random weights', 'peclr', 'fine-tuned (control)'):
            for feats in ('pooled last stage', 'stage 3 4x4'):
                assert {(arm, feats, ro, budget) for ro in ('ridge', 'k-NN')} <= arms
        assert ('peclr', 'projection z', 'ridge', budget) in arms
        assert ('fine-tuned (control)', 'projection z', 'ridge', budget) not in arms
    assert len(rows) == 2 * (1 + 2 * (3 + 3 + 2)) and {r['labels'] for r in rows} == {20, 48}
    dims = {(r['backbone'], r['features']): r['dim'] for r in rows}
    assert dims['peclr', 'stage 3 4x4'] == 128 * 16 and dims['peclr', 'projection z'] == 128
    for r in rows:
        assert 0 <= r['orientation_deg'] <= 180 and r['uv_px'] > 0 and r['pa_epe_mm'] > 0, r
        assert f"| {r['backbone']} | {r['features']} | {r['readout']} | {r['labels']} | " in table
    assert '| peclr | projection z | k-NN | 48 |' in proc.stdout
