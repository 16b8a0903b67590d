"""``FreiHandMetric``: FreiHAND's 3-D keypoint protocol as an mmengine metric, plus a pred.json writer."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Dict

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS
from mmpose.utils.tensor_utils import to_numpy

from peclr_mm.fileio import atomic_write_json
from peclr_mm.freihand import NUM_VERTS
from peclr_mm.freihand.scorer import AUC_RANGE, F_THRESHOLDS, keypoint_scores


@METRICS.register_module()
class FreiHandMetric(BaseMetric):
    """EPE, PA-EPE, AUC, PA-AUC and keypoint F-scores of ``pred_instances.keypoints_cam`` against
    ``gt_instances.keypoints_cam`` (both (1, 21, 3), metres), exactly as FreiHAND's ``eval.py``.

    Reported (prefix ``freihand/``): ``EPE`` and ``PA-EPE`` in mm (mean over joints of the mean over
    samples of the 3-D error, before / after similarity alignment with reflections allowed), ``AUC`` and
    ``PA-AUC`` (PCK with ``<=`` at ``auc_range`` = 0-50 mm in 100 steps, trapezoid area over the range),
    ``kp-F@5mm``, ``kp-F@15mm``, ``kp-PA-F@5mm``, ``kp-PA-F@15mm`` (F-score of the 21-joint sets,
    nearest-neighbour distances strictly below the threshold; other ``f_thresholds`` are named the same
    way, e.g. ``kp-F@10mm``). These keypoint F-scores are *not* the FreiHAND leaderboard's F@5mm /
    F@15mm, which score the 778 mesh vertices: this metric scores no mesh (the model predicts none), so
    it reports no key named ``F@...``; ``tools/eval_freihand.py`` scores meshes (``f_score_5`` ...).
    See :mod:`peclr_mm.freihand.scorer`.

    Args:
        auc_range (tuple): ``(lo, hi, steps)`` in metres. Defaults to the official (0, 0.05, 100).
        f_thresholds (sequence[float]): keypoint F-score thresholds in metres. Defaults to
            (0.005, 0.015).
        pred_json (str, optional): if set, write the predictions as a Codalab submission
            ``[xyz_list, verts_list]`` (metres, ordered by ``sample_id``; vertices are zeros, as the
            official PeCLR submission, since the model predicts no mesh). Every sample index
            ``0..N-1`` must occur exactly once (use it on ``split='test'``). Written atomically.
        num_verts (int): vertices per sample in the submission (MANO: 778).
        format_only (bool): only write ``pred_json`` (e.g. without ground truth); return no metrics.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric prefix; defaults to ``'freihand'``.
    """

    default_prefix: str | None = 'freihand'

    def __init__(self,
                 auc_range: Sequence = AUC_RANGE,
                 f_thresholds: Sequence[float] = F_THRESHOLDS,
                 pred_json: str | None = None,
                 num_verts: int = NUM_VERTS,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if format_only and not pred_json:
            raise ValueError('FreiHandMetric: format_only=True needs pred_json')
        self.auc_range = tuple(auc_range)
        self.f_thresholds = tuple(f_thresholds)
        self.pred_json = pred_json
        self.num_verts = num_verts
        self.format_only = format_only

    def process(self, data_batch: Sequence[dict], data_samples: Sequence[dict]) -> None:
        """Keep each sample's predicted and ground-truth joints (21, 3) and its ``sample_id``."""
        for i, ds in enumerate(data_samples):
            pred = ds.get('pred_instances', {}).get('keypoints_cam')
            if pred is None:
                raise KeyError('FreiHandMetric needs pred_instances.keypoints_cam (use a 3-D head such '
                               'as Regression25DHead)')
            gt = ds.get('gt_instances', {}).get('keypoints_cam')
            if gt is None and not self.format_only:
                raise KeyError(f'FreiHandMetric: data sample {ds.get("img_path", i)} has no '
                               'gt_instances.keypoints_cam')
            self.results.append(dict(
                sample_id=int(ds.get('sample_id', ds.get('id', -1))),
                pred=np.asarray(to_numpy(pred), dtype=np.float64).reshape(-1, 3),
                gt=None if gt is None else np.asarray(to_numpy(gt), dtype=np.float64).reshape(-1, 3)))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        logger: MMLogger = MMLogger.get_current_instance()
        if self.pred_json:
            self.write_submission(results, self.pred_json)
            logger.info(f'FreiHandMetric: wrote Codalab predictions of {len(results)} samples to '
                        f'{self.pred_json}')
        if self.format_only:
            return {}
        gt = np.stack([r['gt'] for r in results])
        pred = np.stack([r['pred'] for r in results])
        return keypoint_scores(gt, pred, self.auc_range, self.f_thresholds)

    def write_submission(self, results: list, path: str) -> None:
        """Write ``[xyz_list, verts_list]`` ordered by sample index, after checking it is complete."""
        idx = np.array([r['sample_id'] for r in results])
        order = np.argsort(idx, kind='stable')
        if not np.array_equal(idx[order], np.arange(len(idx))):
            uniq, counts = np.unique(idx, return_counts=True)
            dup = uniq[counts > 1]
            raise ValueError(f'FreiHandMetric: {path} needs each sample index 0..{len(idx) - 1} exactly '
                             f'once; got indices {idx.min()}..{idx.max()} (duplicates: {dup[:5].tolist()}); '
                             "dump predictions of split='test' only")
        xyz = [results[k]['pred'].tolist() for k in order]
        verts = np.zeros((self.num_verts, 3)).tolist()
        atomic_write_json(path, [xyz, [verts] * len(xyz)])
