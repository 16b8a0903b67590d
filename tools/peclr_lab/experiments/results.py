"""Results of a demo work dir, read from the runs' own files (no log scraping):

- fine-tuning: the metrics mmengine's ``LoggerHook`` wrote for the test run
  (``finetune/<run>/test/<stamp>/<stamp>.json``, ``freihand/*`` keys of ``FreiHandMetric``), and the
  submission it wrote (``pred.json``, read with :func:`peclr_mm.freihand.read_submission`);
- geometry probe: ``probe/geometry_s<seed>/geometry.json`` (``tools/linear_probe.py --geometry``);
- equivariance: ``equivariance/*`` records of ``pretrain/<algo>_s<seed>/<stamp>/vis_data/scalars.json``;
- training speed: the ``time`` records (mean seconds per iteration over each log window) of the same files.

Errors (EPE, PCK) come from :mod:`peclr_mm.freihand.scorer`, the metric's own numpy core.
"""
from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from peclr_mm.freihand import annotation_file, read_annotations, read_field, read_submission
from peclr_mm.freihand.scorer import align_w_scale, epe_auc, point_errors

from .plan import seeded
from .stages import read_stamp

METRICS = ('EPE', 'PA-EPE', 'AUC', 'PA-AUC')
# The geometry probe's error columns (peclr_mm.pose.linear_probe.GEOMETRY_TARGETS, in its order), and the
# cell the report compares arms on first: pooled last stage, ridge, every training label.
PROBE_METRICS = ('orientation_deg', 'uv_px', 'pa_epe_mm')
HEADLINE = dict(features='pooled last stage', readout='ridge', budget='all')
GAP_KEYS = ('eval_gap', 'eval_undone', 'eval_raw', 'train_gap', 'eval_feat_rank')


def read_test_metrics(test_dir: Path) -> dict:
    """``freihand/*`` metrics (prefix dropped) of the newest test run: ``<test_dir>/<stamp>/<stamp>.json``."""
    files = sorted(glob.glob(str(Path(test_dir) / '*' / '*.json')))
    if not files:
        raise FileNotFoundError(f'{test_dir}: no test metrics json found')
    last = Path(files[-1]).read_text().strip().splitlines()[-1]
    metrics = {k.split('/', 1)[1]: v for k, v in json.loads(last).items() if k.startswith('freihand/')}
    if not metrics:
        raise ValueError(f'{files[-1]}: no freihand/* metrics in the last line')
    return metrics


def load_eval_gt(data_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 21, 3) metres and (N, 3, 3) intrinsics of the evaluation split, validated."""
    ann = read_annotations(str(data_root), 'evaluation', fields=('xyz', 'K'))
    return ann['xyz'], ann['K']


def load_pred(path: Path, n: int) -> np.ndarray:
    """Predicted joints (N, 21, 3) of a Codalab ``pred.json`` (its vertex list is not converted)."""
    return read_submission(path, n, verts=False)[0]


def scores(gt: np.ndarray, pred: np.ndarray) -> dict:
    """EPE / PA-EPE (mm), AUC / PA-AUC and the PCK curves of predictions, with the metric's numpy core."""
    aligned, _ = align_w_scale(gt, pred)
    plain, al = epe_auc(point_errors(gt, pred)), epe_auc(point_errors(gt, aligned))
    return dict(EPE=plain.mean * 1000, **{'PA-EPE': al.mean * 1000}, AUC=plain.auc, **{'PA-AUC': al.auc},
                thresholds_mm=(plain.thresholds * 1000).tolist(), pck=plain.pck_curve.tolist(),
                pck_aligned=al.pck_curve.tolist())


def mean_pose_reference(data_root: Path, gt: np.ndarray) -> dict:
    """Scores of an image-blind predictor: the mean root-relative training pose, placed at each sample's
    ground-truth root. A model has learned something from the images only where it beats this."""
    train = read_field(annotation_file(data_root, 'training', 'xyz'), 'xyz')
    mean = (train - train[:, :1]).mean(0)
    s = scores(gt, mean[None] + gt[:, :1])
    return {k: s[k] for k in METRICS}


def pck_curves(runs: Sequence[dict], gt: np.ndarray, preds: Mapping[str, np.ndarray], tol: float = 1e-3) -> dict:
    """Per run (``name``): the PCK curves of its predictions (``preds[name]``, from its ``pred.json``); checks
    that the numpy core reproduces the metric's EPE / PA-EPE (they must agree: same predictions, same code)."""
    curves = {}
    for r in runs:
        s = scores(gt, preds[r['name']])
        for key in ('EPE', 'PA-EPE'):
            if abs(s[key] - r['metrics'][key]) > tol:
                raise ValueError(f'{Path(r["dir"]) / "pred.json"}: {key} {s[key]:.4f} mm against the '
                                 f'evaluation split, but FreiHandMetric logged {r["metrics"][key]:.4f} mm (in '
                                 f'{Path(r["dir"]) / "test"}): the data changed since the test ran; rerun '
                                 'tools/demo.py')
        curves[r['name']] = dict(thresholds_mm=s['thresholds_mm'], pck=s['pck'], pck_aligned=s['pck_aligned'],
                                 epe_mm=s['EPE'], pa_epe_mm=s['PA-EPE'])
    return curves


def collect_probes(work: Path, inits: Sequence[str], seeds: Sequence[int]) -> dict:
    """The geometry probes of a work dir, per seed (``probe/geometry_s<seed>/geometry.json``):

    - ``probes``: ``{init: {seed: {metric: error}}}`` in the :data:`HEADLINE` cell (``scratch``: the random
      weights), the arms' first comparison;
    - ``mean_pose`` and ``control``: ``{seed: {metric: error}}`` of the mean pose and of the fine-tuned
      control in that cell;
    - ``rows``: ``{seed: every row}`` (:func:`peclr_mm.pose.linear_probe.probe_backbones`), with the backbone
      names mapped to inits (``scratch``, ``control``, ``mean pose``).
    """
    out: dict = dict(probes={}, mean_pose={}, control={}, rows={})
    for seed in seeds:
        path = work / 'probe' / seeded('geometry', seed) / 'geometry.json'
        if not path.exists():
            continue
        rec = json.loads(path.read_text())
        names = {rec['random']: 'scratch', **({rec['control']: 'control'} if rec.get('control') else {})}
        rows = [dict(r, backbone=names.get(r['backbone'], r['backbone'])) for r in rec['rows']]
        out['rows'][seed] = [r for r in rows if r['backbone'] in ('mean pose', 'control', *inits)]
        for r in rows:
            if r['budget'] != HEADLINE['budget']:
                continue
            errors = {k: r[k] for k in PROBE_METRICS}
            if r['backbone'] == 'mean pose':
                out['mean_pose'][seed] = errors
            elif r['features'] == HEADLINE['features'] and r['readout'] == HEADLINE['readout']:
                if r['backbone'] == 'control':
                    out['control'][seed] = errors
                elif r['backbone'] in inits:
                    out['probes'].setdefault(r['backbone'], {})[seed] = errors
    return out


def collect_equivariance(work: Path, algos: Sequence[str], seeds: Sequence[int]) -> dict:
    """``{algo: {seed: [{step, eval_gap, ...}]}}`` from the pretraining runs' ``vis_data/scalars.json``."""
    out: dict = {}
    for algo in algos:
        for seed in seeds:
            try:
                recs = load_scalars(work / 'pretrain' / seeded(algo, seed), 'equivariance/')
            except FileNotFoundError:  # no pretraining run here (--pretrained-dir)
                continue
            out.setdefault(algo, {})[seed] = [
                dict(step=r['step'], **{k: r[f'equivariance/{k}'] for k in GAP_KEYS if f'equivariance/{k}' in r})
                for r in recs]
    return out


def images_per_s(run_dir: Path, batch: int) -> float | None:
    """Training images per second of an mmengine run: ``batch`` / the mean of its logged iteration ``time``
    (each a log window's mean), the first window (start-up, cuDNN autotuning) left out unless it is the only
    one; None without timed records (a run shorter than its log interval writes none)."""
    try:
        times = [r['time'] for r in load_scalars(run_dir) if 'time' in r]
    except FileNotFoundError:
        return None
    times = times[1:] or times
    return batch / float(np.mean(times)) if times else None


def stage_wall(out: Path) -> float | None:
    """The wall time a stage's ``stage.json`` records (None without a readable one)."""
    return (read_stamp(Path(out) / 'stage.json') or {}).get('wall_s')


def load_scalars(work_dir: str | os.PathLike, prefix: str = '') -> list[dict]:
    """The records of mmengine's ``vis_data/scalars.json`` of the newest run under ``work_dir`` (one dict per
    line, with ``step``) that hold a key starting with ``prefix``; a missing file is an error naming the folder."""
    files = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    if not files:
        raise FileNotFoundError(f'{work_dir}: no */vis_data/scalars.json (not an mmengine work dir?)')
    records = []
    for n, line in enumerate(files[-1].read_text().splitlines(), 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f'{files[-1]}: line {n} is not JSON ({e.msg})') from None
        if any(k.startswith(prefix) for k in rec):
            records.append(rec)
    return records
