"""The FreiHAND offline scorer: ``evaluate_files`` on a hand-made pred/gt pair with known scores and against
the official loop; ``tools/eval_freihand.py`` in its own process (outputs, bad input)."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from peclr_mm.freihand import FreiHandFormatError
from peclr_mm.freihand.scorer import SCORE_KEYS, FreiHandScoringWarning, evaluate_files

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    """A benchmark script as a module (its reference implementation of the official loop)."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _scorer(*args: str) -> subprocess.CompletedProcess:
    """``tools/eval_freihand.py ARGS`` in its own process."""
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'eval_freihand.py'), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def _write(folder: Path, xyz, verts=None, pred=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'evaluation_xyz.json').write_text(json.dumps(np.asarray(xyz).tolist()))
    if verts is not None:
        (folder / 'evaluation_verts.json').write_text(json.dumps(np.asarray(verts).tolist()))
    if pred is not None:
        (folder / 'pred.json').write_text(json.dumps(pred))
    return folder


def _read_scores(path: Path) -> dict:
    lines = path.read_text().splitlines()
    return {k: float(v) for k, v in (line.split(': ') for line in lines)}


def _hand_made():
    """Two hands; the prediction is the gt shifted by exactly 1 cm along x (and its mesh likewise)."""
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-0.05, 0.05, (2, 21, 3)) + [0, 0, 0.7]
    verts = rng.uniform(-0.05, 0.05, (2, 778, 3)) + [0, 0, 0.7]
    shift = np.array([0.01, 0, 0])
    return xyz, verts, xyz + shift, verts + shift


def test_known_values(tmp_path):
    xyz, verts, pxyz, pverts = _hand_made()
    d = _write(tmp_path / 'gt', xyz, verts)
    pred = tmp_path / 'sub' / 'pred.json'
    pred.parent.mkdir()
    pred.write_text(json.dumps([pxyz.tolist(), pverts.tolist()]))
    run = _scorer(pred, d, '--out', tmp_path / 'out')
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    scores = _read_scores(tmp_path / 'out' / 'scores.txt')
    assert tuple(scores) == SCORE_KEYS  # official keys, official order
    assert scores == pytest.approx(printed, abs=1e-6)
    # every joint is exactly 1 cm off: mean error 1 cm; PCK is 0 below 1 cm and 1 from it on
    assert scores['xyz_mean3d'] == pytest.approx(1.0, abs=1e-9)
    th = np.linspace(0, 0.05, 100)
    pck = (th >= 0.01).astype(float)
    auc = np.sum((th[1:] - th[:-1]) * (pck[1:] + pck[:-1]) / 2) / 0.05
    assert scores['xyz_auc3d'] == pytest.approx(auc, abs=1e-6)
    assert scores['mesh_mean3d'] == pytest.approx(1.0, abs=1e-9)
    # a pure translation is removed by the alignment
    assert scores['xyz_al_mean3d'] < 1e-5 and scores['mesh_al_mean3d'] < 1e-5
    assert scores['xyz_al_auc3d'] > 0.99 and scores['f_al_score_5'] == 1 and scores['f_al_score_15'] == 1
    # the unaligned F-scores follow from the nearest-neighbour distances
    for t in (5, 15):
        f = []
        for g, p in zip(verts, pverts):
            dist = np.linalg.norm(g[:, None] - p[None], axis=-1)
            prec, rec = np.mean(dist.min(1) < t / 1000), np.mean(dist.min(0) < t / 1000)
            f.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
        assert scores[f'f_score_{t}'] == pytest.approx(np.mean(f), abs=1e-6)
    assert (tmp_path / 'out' / 'pck_data.json').is_file()


def test_matches_official_loop(tmp_path):
    bench = _load('bench_pose_eval', ROOT / 'bench' / 'bench_pose_eval.py')
    xyz, verts, pxyz, pverts = bench.make_data(6, seed=1, num_verts=778)
    ref = bench.reference_scores(xyz.tolist(), verts.tolist(), [pxyz.tolist(), pverts.tolist()])
    d = _write(tmp_path, xyz, verts, [pxyz.tolist(), pverts.tolist()])
    ours, _ = evaluate_files(d / 'pred.json', d)
    for k, v in ref.items():
        assert ours[k] == pytest.approx(float(v), abs=1e-12), k
    # non-MANO vertices (another count): keypoint-estimated alignment, mesh errors reported as -1
    few = pverts[:, :100]
    ref = bench.reference_scores(xyz.tolist(), verts.tolist(), [pxyz.tolist(), few.tolist()])
    _write(tmp_path, xyz, verts, [pxyz.tolist(), few.tolist()])
    ours, _ = evaluate_files(d / 'pred.json', d)
    assert ours['mesh_mean3d'] == -100 and ours['mesh_al_auc3d'] == -1
    for k, v in ref.items():
        assert ours[k] == pytest.approx(float(v), abs=1e-12), k


def test_without_gt_vertices(tmp_path):
    xyz, _, pxyz, pverts = _hand_made()
    d = _write(tmp_path, xyz, None, [pxyz.tolist(), pverts.tolist()])
    run = _scorer(d / 'pred.json', d)
    assert run.returncode == 0, run.stderr  # --out defaults to pred's folder
    scores = _read_scores(d / 'scores.txt')
    assert scores['xyz_mean3d'] == pytest.approx(1.0) and scores['f_score_5'] == -1


@pytest.mark.parametrize('case, message', [
    ('short', "field 'xyz' has 1 samples, expected 2"),
    ('short_verts', "field 'verts' has 1 samples, expected 2"),
    ('malformed', 'malformed JSON'),
    ('not_pair', "must be [xyz_list, verts_list]"),
    ('bad_shape', "field 'xyz', sample 1: shape (20, 3), expected 21x3"),
    ('nan', "field 'xyz', sample 0: non-finite"),
    ('missing', 'file not found'),
    ('huge', 'are not finite (predictions too large to score: values must be metres)'),
])
def test_bad_input_is_reported_and_nothing_written(tmp_path, case, message):
    xyz, verts, pxyz, pverts = _hand_made()
    pred = [pxyz.tolist(), pverts.tolist()]
    d = _write(tmp_path, xyz, verts)
    target = d / 'pred.json'
    if case == 'short':
        pred[0] = pred[0][:1]
    elif case == 'short_verts':
        pred[1] = pred[1][:1]
    elif case == 'not_pair':
        pred = {'xyz': pred[0], 'verts': pred[1]}
    elif case == 'bad_shape':
        pred[0][1] = pred[0][1][:20]
    elif case == 'nan':
        pred[0][0][3][1] = float('nan')
    elif case == 'huge':
        pred[0][0][0][0] = 1e300
    if case == 'malformed':
        target.write_text(json.dumps(pred)[:-10])
    elif case != 'missing':
        target.write_text(json.dumps(pred))
    with pytest.raises(FreiHandFormatError, match=re.escape(message)):
        evaluate_files(target, d)
    run = _scorer(target, d, '--out', tmp_path / 'out')
    assert run.returncode == 1
    err = run.stderr.strip()
    assert message in err and str(target) in err and '\n' not in err
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('form', ['xyz only', 'empty verts'])
def test_keypoint_only_submission_scores_the_keypoints_and_says_the_mesh_was_not(tmp_path, form):
    xyz, verts, pxyz, pverts = _hand_made()
    pred = {'xyz only': [pxyz.tolist()], 'empty verts': [pxyz.tolist(), []]}[form]
    d = _write(tmp_path, xyz, verts, pred)
    with pytest.warns(FreiHandScoringWarning, match='no vertices in the submission'):
        scores, _ = evaluate_files(d / 'pred.json', d)
    full, _ = evaluate_files(_write(tmp_path / 'full', xyz, verts, [pxyz.tolist(), pverts.tolist()]) / 'pred.json',
                             tmp_path / 'full')
    for k in ('xyz_mean3d', 'xyz_auc3d', 'xyz_al_mean3d', 'xyz_al_auc3d'):
        assert scores[k] == full[k]
    assert scores['xyz_mean3d'] == pytest.approx(1.0)  # the 1 cm shift
    assert scores['mesh_mean3d'] == -100 and scores['f_score_5'] == -1
    run = _scorer(d / 'pred.json', d, '--out', tmp_path / 'out')
    assert run.returncode == 0 and (tmp_path / 'out' / 'scores.txt').is_file()
    assert run.stderr.strip() == f'warning: {d / "pred.json"}: no vertices in the submission: keypoints ' \
                                 'scored, mesh errors and mesh F-scores not scored (-1)'


def test_millimetres_are_scored_with_a_warning(tmp_path):
    xyz, verts, pxyz, pverts = _hand_made()
    d = _write(tmp_path, xyz, verts, [(pxyz * 1000).tolist(), (pverts * 1000).tolist()])
    with pytest.warns(FreiHandScoringWarning, match=r'keypoints look like millimetres \(median distance 7\d\d '):
        scores, _ = evaluate_files(d / 'pred.json', d)
    assert scores['xyz_mean3d'] > 1000  # scored as given: in cm, of metres read as metres
    run = _scorer(d / 'pred.json', d, '--out', tmp_path / 'out')
    assert run.returncode == 0 and run.stderr.count('\n') == 1 and 'divide by 1000' in run.stderr
    with warnings.catch_warnings():
        warnings.simplefilter('error', FreiHandScoringWarning)
        evaluate_files(_write(tmp_path / 'm', xyz, verts, [pxyz.tolist(), pverts.tolist()]) / 'pred.json',
                       tmp_path / 'm')  # metres: no warning
