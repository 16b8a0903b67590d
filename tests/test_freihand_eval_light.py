"""The FreiHAND scorer needs numpy + scipy alone: ``tools/eval_freihand.py`` and ``peclr_mm.freihand.scorer`` run
in a subprocess where torch, OpenMMLab and OpenCV cannot be imported, and score exactly as in-process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from peclr_mm.freihand.scorer import format_scores, freihand_scores

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ('torch', 'mmpose', 'mmengine', 'mmcv', 'mmpretrain', 'cv2')

# Prelude: a meta-path finder that refuses the blocked packages, then the given code; finally it reports
# every third-party top-level module that was imported.
PRELUDE = f"""
import importlib.abc, sys
BLOCKED = {BLOCKED!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{{name}} is blocked in this test')
        return None
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(ROOT)!r})
"""
REPORT = """
import json
third = sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names) - {'__main__'})
print('MODULES ' + json.dumps([m for m in third if not m.startswith('_')]), file=sys.stderr)
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', PRELUDE + code + REPORT, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def _modules(proc: subprocess.CompletedProcess) -> set[str]:
    line = next(x for x in proc.stderr.splitlines() if x.startswith('MODULES '))
    return set(json.loads(line[len('MODULES '):]))


@pytest.fixture(scope='module')
def numpy_scipy() -> set[str]:
    """Third-party top-level modules that numpy and scipy's k-d tree import by themselves (e.g. Cython's)."""
    return _modules(_run('import numpy, scipy.spatial')) | {'peclr_mm'}


def test_prelude_blocks_the_heavy_packages():
    proc = _run("import torch")
    assert proc.returncode != 0 and 'torch is blocked in this test' in proc.stderr


def test_core_imports_with_numpy_and_scipy_alone(numpy_scipy):
    proc = _run("import peclr_mm.freihand.scorer, peclr_mm.freihand")
    assert proc.returncode == 0, proc.stderr
    assert _modules(proc) <= numpy_scipy, proc.stderr


def test_scorer_runs_without_torch_and_scores_like_the_core(tmp_path, numpy_scipy):
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 0.04, (5, 21, 3)) + [0, 0, 0.6]
    gt_verts = rng.normal(0, 0.04, (5, 30, 3)) + [0, 0, 0.6]
    pred = gt + rng.normal(0, 0.01, gt.shape)
    pred_verts = gt_verts + rng.normal(0, 0.01, gt_verts.shape)
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'gt' / 'evaluation_xyz.json').write_text(json.dumps(gt.tolist()))
    (tmp_path / 'gt' / 'evaluation_verts.json').write_text(json.dumps(gt_verts.tolist()))
    (tmp_path / 'pred.json').write_text(json.dumps([pred.tolist(), pred_verts.tolist()]))
    code = ("import runpy\n"
            "try:\n    runpy.run_path('tools/eval_freihand.py', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n")
    proc = _run(code, str(tmp_path / 'pred.json'), str(tmp_path / 'gt'), '--out', str(tmp_path / 'out'))
    assert proc.returncode == 0, proc.stderr
    assert _modules(proc) <= numpy_scipy, proc.stderr
    # in-process core on the files' values: the same numbers to the last bit, the same files
    xyz, verts = json.loads((tmp_path / 'pred.json').read_text())
    gt_xyz, gt_verts = (np.asarray(json.loads((tmp_path / 'gt' / f'evaluation_{f}.json').read_text()))
                        for f in ('xyz', 'verts'))
    scores, curves = freihand_scores(gt_xyz, np.asarray(xyz), gt_verts, np.asarray(verts))
    assert json.loads(proc.stdout) == scores
    assert scores['mesh_mean3d'] > 0 and 0 < scores['f_score_15'] <= 1  # mesh scores computed, not -1
    assert (tmp_path / 'out' / 'scores.txt').read_text() == format_scores(scores)
    assert json.loads((tmp_path / 'out' / 'pck_data.json').read_text()) == json.loads(json.dumps(curves))
