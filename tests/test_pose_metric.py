"""FreiHAND evaluation core and FreiHandMetric against independent numpy formulas."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation
from test_pose_scorer import _hand_made, _write

import peclr_mm.pose  # noqa: F401
from peclr_mm.freihand import scorer as fe
from peclr_mm.pose import FreiHandMetric


def _hands(n=12, seed=0):
    rng = np.random.default_rng(seed)
    gt = rng.normal(0, 0.04, (n, 21, 3)) + [0, 0, 0.6]
    pred = gt + rng.normal(0, 0.008, gt.shape) + rng.normal(0, 0.01, (n, 1, 3))
    return gt, pred


def _procrustes_independent(gt, pred):
    """Similarity alignment written from the definition: centre, unit Frobenius norm (+1e-8), scipy's
    orthogonal Procrustes (no det correction), map the prediction into the gt frame."""
    out = []
    for g, p in zip(gt, pred):
        g0, p0 = g - g.mean(0), p - p.mean(0)
        n1, n2 = np.linalg.norm(g0) + 1e-8, np.linalg.norm(p0) + 1e-8
        R, s = orthogonal_procrustes(g0 / n1, p0 / n2)
        out.append((p0 / n2) @ R.T * s * n1 + g.mean(0))
    return np.stack(out)


def _auc_independent(err, lo=0.0, hi=0.05, steps=100):
    th = np.linspace(lo, hi, steps)
    aucs = []
    for j in range(err.shape[1]):
        pck = np.array([np.mean(err[:, j] <= t) for t in th])
        area = sum((th[k + 1] - th[k]) * (pck[k + 1] + pck[k]) / 2 for k in range(steps - 1))
        aucs.append(area / (hi - lo))
    return float(np.mean(aucs))


def _fscore_independent(gt, pred, t):
    out = []
    for g, p in zip(gt, pred):
        d = np.linalg.norm(g[:, None] - p[None], axis=-1)
        prec, rec = np.mean(d.min(1) < t), np.mean(d.min(0) < t)
        out.append(0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    return float(np.mean(out))


def test_alignment_matches_definition():
    gt, pred = _hands()
    aligned, trafo = fe.align_w_scale(gt, pred)
    np.testing.assert_allclose(aligned, _procrustes_independent(gt, pred), atol=1e-12)
    # the keypoint trafo applied to the keypoints themselves, via the official formula (which omits
    # the prediction's norm): (p - mean) R^T s s1 + (t1 - t2) + mean
    ref = [(p - p.mean(0)) @ R.T * s * s1 + t + p.mean(0)
           for p, R, s, s1, t in zip(pred, trafo.rot, trafo.scale, trafo.gt_norm, trafo.shift)]
    np.testing.assert_allclose(fe.align_by_trafo(pred, trafo), np.stack(ref), atol=1e-12)
    # degenerate prediction (all joints at one point): falls back to the SVD, stays finite
    al, _ = fe.align_w_scale(gt[:2], np.zeros((2, 21, 3)))
    assert np.isfinite(al).all()


def test_perfect_similar_and_reflected_predictions():
    gt, _ = _hands(6)
    perfect = fe.keypoint_scores(gt, gt)
    assert perfect["EPE"] == 0 and perfect["PA-EPE"] < 1e-5  # official 1e-8 norm offsets
    assert perfect['AUC'] == 1
    # the official 1e-8 offsets leave ~1e-9 m residuals, which miss the 0 mm threshold: PA-AUC of a
    # perfect prediction is 1 - (1/2)/99 in FreiHAND's protocol
    al = _procrustes_independent(gt, gt)
    assert np.abs(al - gt).max() > 0
    assert perfect['PA-AUC'] == pytest.approx(_auc_independent(np.linalg.norm(al - gt, axis=-1)))
    assert perfect['PA-AUC'] == pytest.approx(1 - 0.5 / 99)
    assert all(perfect[k] == 1 for k in ('kp-F@5mm', 'kp-F@15mm', 'kp-PA-F@5mm', 'kp-PA-F@15mm'))
    # a similarity transform of the gt: only the aligned metrics are perfect
    R = Rotation.from_euler('xyz', [20, -35, 50], degrees=True).as_matrix()
    sim = (gt - gt.mean(1, keepdims=True)) @ R.T * 1.3 + gt.mean(1, keepdims=True) + [0.02, 0, 0.05]
    res = fe.keypoint_scores(gt, sim)
    assert res["PA-EPE"] < 1e-5 and res["PA-AUC"] > 0.99 and res["EPE"] > 10
    np.testing.assert_allclose(res['EPE'], np.linalg.norm(gt - sim, axis=-1).mean() * 1000, rtol=1e-12)
    # a mirror image: alignment allows reflections, so PA-EPE is ~0 as in the official script
    mirror = gt.copy()
    mirror[..., 0] = 2 * gt[..., :1, 0].mean(1, keepdims=True) - gt[..., 0]
    res = fe.keypoint_scores(gt, mirror)
    assert res["PA-EPE"] < 1e-5 and res["EPE"] > 1
    # and it agrees with the independent per-sample formulas
    gt, pred = _hands(10, seed=3)
    pred[::2, :, 1] *= -1  # reflect half of the predictions
    res = fe.keypoint_scores(gt, pred)
    al = _procrustes_independent(gt, pred)
    err, err_al = np.linalg.norm(gt - pred, axis=-1), np.linalg.norm(gt - al, axis=-1)
    np.testing.assert_allclose(res['EPE'], err.mean() * 1000, rtol=1e-12)
    np.testing.assert_allclose(res['PA-EPE'], err_al.mean() * 1000, rtol=1e-9)
    np.testing.assert_allclose(res['AUC'], _auc_independent(err), rtol=1e-12)
    np.testing.assert_allclose(res['PA-AUC'], _auc_independent(err_al), rtol=1e-9)
    for t in (0.005, 0.015):
        np.testing.assert_allclose(res[f'kp-F@{t * 1000:g}mm'], _fscore_independent(gt, pred, t))
        np.testing.assert_allclose(res[f'kp-PA-F@{t * 1000:g}mm'], _fscore_independent(gt, al, t))


def test_pck_is_inclusive_and_fscore_strict():
    # errors exactly on thresholds count for the PCK (<=)
    th = np.linspace(0, 0.05, 100)
    err = np.stack([th[[3, 50, 99]], th[[0, 10, 20]]], axis=1)  # (3 samples, 2 points)
    res = fe.epe_auc(err)
    np.testing.assert_allclose(res.auc, _auc_independent(err), rtol=1e-12)
    np.testing.assert_allclose(res.pck_curve, [np.mean(err <= t) for t in th])
    # a point exactly at the threshold does not count for the F-score (<): binary-exact distances
    gt = np.zeros((1, 2, 3))
    pred = np.array([[[0.5, 0, 0], [0, 0.25, 0]]])
    f = fe.f_scores(gt, pred, thresholds=(0.5, 0.75))
    # at 0.5: both gt points have a prediction at 0.25 (P = 1), the prediction at exactly 0.5 has no
    # gt point strictly closer (R = 1/2): F = 2 P R / (P + R) = 2/3; at 0.75 everything matches
    np.testing.assert_allclose(f[0], [2 / 3, 1.0], rtol=1e-15)


def test_mesh_fscores_with_pruned_search_equal_brute_force():
    rng = np.random.default_rng(1)
    gt = rng.normal(0, 0.03, (5, 200, 3))
    pred = gt + rng.normal(0, 0.006, gt.shape)
    pred[0] += 0.02  # mostly undecided by the correspondence bound
    other = rng.normal(0, 0.03, (5, 150, 3))  # a different vertex count: no bound at all
    for p in (pred, other):
        got = fe._paired_fscores(gt, [p], fe.F_THRESHOLDS)[0]
        for k, t in enumerate(fe.F_THRESHOLDS):
            np.testing.assert_allclose(got[:, k].mean(), _fscore_independent(gt, p, t))


def _samples(gt, pred, start=0):
    return [dict(pred_instances=dict(keypoints_cam=p[None]), gt_instances=dict(keypoints_cam=g[None]),
                 sample_id=start + i) for i, (g, p) in enumerate(zip(gt, pred))]


def test_metric_process_compute_and_submission(tmp_path):
    gt, pred = _hands(8)
    out = tmp_path / 'sub' / 'pred.json'
    metric = FreiHandMetric(pred_json=str(out))
    metric.dataset_meta = {}
    samples = _samples(gt, pred)
    metric.process([], samples[4:])  # out of order: the submission is sorted by sample index
    metric.process([], samples[:4])
    res = metric.evaluate(8)
    ref = fe.keypoint_scores(gt, pred)
    assert set(res) == {f'freihand/{k}' for k in ('EPE', 'PA-EPE', 'AUC', 'PA-AUC', 'kp-F@5mm', 'kp-F@15mm',
                                                   'kp-PA-F@5mm', 'kp-PA-F@15mm')}
    for k, v in ref.items():
        assert res[f'freihand/{k}'] == pytest.approx(v, rel=1e-12)
    xyz, verts = json.loads(out.read_text())
    np.testing.assert_allclose(np.array(xyz), pred)
    assert np.array(verts).shape == (8, 778, 3) and not np.any(verts)
    assert not list(out.parent.glob('*.tmp'))  # written atomically


def test_fscore_keys_name_what_they_score(tmp_path):
    """FreiHandMetric scores no mesh: its F-scores are of the 21 keypoints and named ``kp-...``, never the
    leaderboard's mesh ``F@5mm`` / ``F@15mm``; the offline scorer's vertex F-scores keep the official keys."""
    gt, pred = _hands(6)
    kp_default = {'kp-F@5mm', 'kp-F@15mm', 'kp-PA-F@5mm', 'kp-PA-F@15mm'}
    for thresholds, expected in ((None, kp_default),
                                 ((0.0075, 0.01), {'kp-F@7.5mm', 'kp-F@10mm', 'kp-PA-F@7.5mm', 'kp-PA-F@10mm'})):
        metric = FreiHandMetric() if thresholds is None else FreiHandMetric(f_thresholds=thresholds)
        metric.dataset_meta = {}
        metric.process([], _samples(gt, pred))
        names = {k.split('/', 1)[1] for k in metric.evaluate(len(gt))}
        assert {k for k in names if 'F@' in k} == expected
        assert names.isdisjoint({'F@5mm', 'F@15mm', 'PA-F@5mm', 'PA-F@15mm'})
        assert not any(k.startswith(('F@', 'PA-F@')) for k in names)
    assert {fe.keypoint_fscore_key(t, a) for t in fe.F_THRESHOLDS for a in (False, True)} == kp_default
    # the offline scorer, given vertices, scores the meshes under the official (leaderboard) keys
    xyz, verts, pxyz, pverts = _hand_made()
    d = _write(tmp_path, xyz, verts, [pxyz.tolist(), pverts.tolist()])
    scores, _ = fe.evaluate_files(d / 'pred.json', d)
    mesh_f = {'f_score_5', 'f_al_score_5', 'f_score_15', 'f_al_score_15'}
    assert mesh_f <= set(scores) and all(0 <= scores[k] <= 1 for k in mesh_f)  # computed, not -1
    assert not any(k.startswith('kp-') or 'F@' in k for k in scores)


def test_metric_rejects_incomplete_submission(tmp_path):
    gt, pred = _hands(3)
    metric = FreiHandMetric(pred_json=str(tmp_path / 'pred.json'), format_only=True)
    metric.process([], _samples(gt, pred) + _samples(gt[:1], pred[:1]))  # sample 0 twice
    with pytest.raises(ValueError, match='exactly once'):
        metric.evaluate(4)
    assert not (tmp_path / 'pred.json').exists()
    with pytest.raises(ValueError, match='pred_json'):
        FreiHandMetric(format_only=True)
    with pytest.raises(KeyError, match='keypoints_cam'):
        FreiHandMetric().process([], [dict(pred_instances=dict(keypoints=np.zeros((1, 21, 2))))])


def test_format_only_writes_the_submission_without_ground_truth(tmp_path):
    """The Codalab path on the evaluation split: no gt, samples out of order; pred.json sorted by sample id,
    the predictions exactly, zero vertices, and no metrics."""
    _, pred = _hands(5)
    out = tmp_path / 'pred.json'
    metric = FreiHandMetric(pred_json=str(out), format_only=True)
    metric.dataset_meta = {}
    samples = [dict(pred_instances=dict(keypoints_cam=p[None]), sample_id=i) for i, p in enumerate(pred)]
    metric.process([], samples[::-1])
    assert metric.evaluate(5) == {}
    xyz, verts = json.loads(out.read_text())
    np.testing.assert_array_equal(np.array(xyz), pred)
    assert np.array(verts).shape == (5, 778, 3) and not np.any(verts)
