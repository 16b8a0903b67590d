"""FreiHAND's evaluation protocol, vectorised over samples (numpy + scipy only; no torch, no OpenMMLab).

Shared by ``FreiHandMetric`` (:mod:`peclr_mm.pose.freihand_metric`), ``tools/eval_freihand.py`` and
``tools/demo_report.py``; it lives at the package root so the offline scorer never imports mmpose.

The numbers are those of the official ``eval.py``/``utils/eval_util.py`` of lmb-freiburg/freihand:

- **alignment** (:func:`align_w_scale`): both point sets centred on their means and scaled to unit
  Frobenius norm (plus 1e-8), rotation from the orthogonal Procrustes problem *without* a determinant
  correction (reflections allowed), scale = sum of singular values; the prediction is mapped into the
  ground truth's frame. For predictions that are not MANO meshes, vertices are aligned with the trafo
  estimated on the keypoints (:func:`align_by_trafo`, reproducing the official formula exactly).
- **mean error / AUC** (:func:`epe_auc`): per point id (keypoint or vertex), the mean over samples of
  the Euclidean error, then the mean over ids; the PCK curve counts ``error <= t`` at ``steps``
  thresholds ``linspace(lo, hi, steps)``, its trapezoid area is divided by ``hi - lo`` (the area under
  a constant 1) and averaged over ids.
- **F-score** (:func:`f_scores`): nearest-neighbour distances in both directions, precision/recall =
  fraction of distances strictly below the threshold, ``F = 2PR / (P + R)`` (0 when both are 0).

Units are those of the input (metres for FreiHAND); :func:`freihand_scores` returns the official
``scores.txt`` keys, with the mean errors converted to centimetres as the official script does.

F-score names: the leaderboard's F@5mm / F@15mm are F-scores of the 778 **mesh vertices**; only
:func:`freihand_scores` computes those, under the official ``scores.txt`` keys ``f_score_5``,
``f_al_score_5``, ``f_score_15``, ``f_al_score_15`` (-1 without vertices). :func:`keypoint_scores` (and
so ``FreiHandMetric``) computes F-scores of the 21 **keypoints**, a different and not comparable number,
named ``kp-F@5mm``, ``kp-PA-F@5mm``, ... (:func:`keypoint_fscore_key`); no key here is a bare ``F@...``.

The offline scorer on files (``tools/eval_freihand.py``): :func:`evaluate_files` reads the ground truth
and a Codalab submission (with :mod:`peclr_mm.freihand`'s validated readers) and scores them;
:func:`write_scores` writes ``scores.txt`` and ``pck_data.json`` as one set.
"""
from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from peclr_mm.fileio import atomic_write_set
from peclr_mm.freihand.format import FreiHandFormatError, annotation_file, read_field, read_submission

# Official settings: AUC over 0-50 mm with 100 thresholds; F-scores at 5 and 15 mm.
AUC_RANGE = (0.0, 0.05, 100)
F_THRESHOLDS = (0.005, 0.015)
_EPS = 1e-8  # the official script adds this to both Frobenius norms


class SimilarityTrafo(NamedTuple):
    """Per-sample similarity estimated by :func:`align_w_scale` (official ``return_trafo`` tuple).

    rot: (N, 3, 3) Procrustes rotation/reflection R; scale: (N,) sum of singular values s;
    gt_norm: (N,) ||gt - mean(gt)|| + 1e-8 (s1); shift: (N, 3) mean(gt) - mean(pred).
    """

    rot: np.ndarray
    scale: np.ndarray
    gt_norm: np.ndarray
    shift: np.ndarray


def _as_batch(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"expected (N, P, 3) or (P, 3) points, got shape {x.shape}")
    return x


def _centroid(x: np.ndarray) -> np.ndarray:
    """(N, P, 3) -> (N, 1, 3) means (a matrix product: numpy's strided mean over axis 1 is ~10x slower)."""
    return (np.full(x.shape[1], 1.0 / x.shape[1]) @ x)[:, None]


def _polar(m: np.ndarray) -> np.ndarray:
    """Orthogonal polar factor of (N, 3, 3) matrices: ``U V^T`` of their SVD ``U W V^T``.

    Scaled Newton iteration ``X <- (g X + X^-T / g) / 2`` with closed-form 3x3 inverses (a few
    vectorised passes instead of N LAPACK calls); near-singular or non-converged matrices fall back to
    the SVD. Agrees with the SVD to ~1e-14 on well-conditioned inputs.
    """
    out = np.empty_like(m)
    norm = np.sqrt(np.square(m).sum(axis=(1, 2)))
    det = np.linalg.det(m)
    ok = np.isfinite(det) & (np.abs(det) > 1e-6 * norm ** 3)
    x = (m[ok] / norm[ok, None, None]).reshape(-1, 9).T.copy()  # (9, n): rows are matrix entries
    done = np.zeros(x.shape[1], dtype=bool)
    for it in range(40):
        a, b, c, d, e, f, g, h, i = x
        # cofactor matrix = det(X) X^-T, entry by entry
        cof = np.stack([e * i - f * h, f * g - d * i, d * h - e * g,
                        c * h - b * i, a * i - c * g, b * g - a * h,
                        b * f - c * e, c * d - a * f, a * e - b * d])
        det = a * cof[0] + b * cof[1] + c * cof[2]
        sc = np.abs(det) ** (-1.0 / 3.0) if it < 8 else np.ones_like(det)  # determinant scaling
        x_new = 0.5 * (sc * x + cof / (sc * det))
        done = np.abs(x_new - x).max(axis=0) < 1e-14
        x = x_new
        if done.all():
            break
    x = x.T.reshape(-1, 3, 3)
    out[ok] = x
    redo = ~ok
    redo[np.flatnonzero(ok)[~(done & np.isfinite(x).all(axis=(1, 2)))]] = True
    if redo.any():
        u, _, vt = np.linalg.svd(m[redo])
        out[redo] = u @ vt
    return out


def align_w_scale(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, SimilarityTrafo]:
    """Similarity-align ``pred`` to ``gt`` (official ``align_w_scale``), batched.

    Args:
        gt: (N, P, 3) or (P, 3) ground truth.
        pred: same shape as ``gt``.

    Returns:
        ``(aligned, trafo)``: aligned prediction (N, P, 3) and the :class:`SimilarityTrafo`.
    """
    gt, pred = _as_batch(gt), _as_batch(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"align_w_scale: shapes differ: gt {gt.shape} vs pred {pred.shape}")
    t1, t2 = _centroid(gt), _centroid(pred)
    a = gt - t1
    b = pred - t2
    s1 = np.sqrt(np.square(a).sum(axis=(1, 2))) + _EPS
    s2 = np.sqrt(np.square(b).sum(axis=(1, 2))) + _EPS
    # scipy.linalg.orthogonal_procrustes(a/s1, b/s2): M = a^T b / (s1 s2) = U W V^T, R = U V^T (no
    # determinant correction: reflections allowed), s = sum(W) = trace(R^T M).
    m = (a.transpose(0, 2, 1) @ b) / (s1 * s2)[:, None, None]
    rot = _polar(m)
    s = (rot * m).sum(axis=(1, 2))
    aligned = (b @ rot.transpose(0, 2, 1)) * (s * s1 / s2)[:, None, None] + t1
    return aligned, SimilarityTrafo(rot, s, s1, (t1 - t2)[:, 0])


def align_by_trafo(points: np.ndarray, trafo: SimilarityTrafo) -> np.ndarray:
    """Apply a keypoint-estimated trafo to other points (official ``align_by_trafo``), batched.

    Reproduces the official formula verbatim: ``(p - mean(p)) R^T s s1 + (t1 - t2) + mean(p)``. Note
    that, unlike :func:`align_w_scale`, it does not divide by the prediction's norm (s2); we keep this
    so that vertex scores of non-MANO predictions match the official server.
    """
    points = _as_batch(points)
    centre = _centroid(points)
    out = (points - centre) @ trafo.rot.transpose(0, 2, 1)
    return out * (trafo.scale * trafo.gt_norm)[:, None, None] + trafo.shift[:, None] + centre


def point_errors(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Euclidean error per sample and point: (N, P, 3) x 2 -> (N, P)."""
    d = _as_batch(gt) - _as_batch(pred)
    return np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)  # same summation order as np.sum


class EpeAuc(NamedTuple):
    """Output of :func:`epe_auc` (official ``get_measures``, without the unused median)."""

    mean: float
    auc: float
    pck_curve: np.ndarray  # (steps,) PCK averaged over point ids
    thresholds: np.ndarray  # (steps,)


def epe_auc(errors: np.ndarray, lo: float = AUC_RANGE[0], hi: float = AUC_RANGE[1],
            steps: int = AUC_RANGE[2]) -> EpeAuc:
    """Mean error and PCK-AUC from per-sample, per-point errors (N, P), all points visible.

    PCK per point id at each threshold t is ``mean(errors[:, j] <= t)``, computed for all thresholds at
    once by bucketing each error at its first threshold >= it and accumulating counts.
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 2 or errors.shape[0] == 0:
        raise ValueError(f"epe_auc expects (N>0, P) errors, got shape {errors.shape}")
    n, p = errors.shape
    thresholds = np.linspace(lo, hi, steps)
    norm = np.trapezoid(np.ones_like(thresholds), thresholds)
    # bucket = first j with errors <= t_j: arithmetic guess, then exact +-1 correction on linspace values
    step = (hi - lo) / (steps - 1)
    bucket = np.clip(np.ceil((errors - lo) / step), 0, steps).astype(np.int64)
    t_ext = np.append(thresholds, np.inf)
    bucket += errors > t_ext[bucket]
    bucket -= (bucket > 0) & (errors <= t_ext[np.maximum(bucket - 1, 0)])
    flat = (np.arange(p)[None, :] * (steps + 1) + bucket).ravel()
    counts = np.bincount(flat, minlength=p * (steps + 1)).reshape(p, steps + 1)
    pck = np.cumsum(counts, axis=1)[:, :steps] / n  # (P, steps): integer counts / n, exact
    auc = np.trapezoid(pck, thresholds, axis=1) / norm
    return EpeAuc(float(np.mean(errors.mean(axis=0))), float(np.mean(auc)), pck.mean(axis=0), thresholds)


def nn_distances(src: np.ndarray, dst: np.ndarray, brute_force_max: int = 4096
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour distances between point sets, per sample, in both directions.

    Args:
        src: (N, P, 3); dst: (N, Q, 3).
        brute_force_max: use a batched (N, P, Q) distance tensor when ``P * Q`` is at most this (e.g.
            21 keypoints); otherwise one k-d tree per sample and set (e.g. 778 mesh vertices).

    Returns:
        ``(d_src, d_dst)``: (N, P) distance of each src point to its nearest dst point, and (N, Q)
        of each dst point to its nearest src point.
    """
    src, dst = _as_batch(src), _as_batch(dst)
    if src.shape[0] != dst.shape[0]:
        raise ValueError(f"nn_distances: {src.shape[0]} vs {dst.shape[0]} samples")
    if src.shape[1] * dst.shape[1] <= brute_force_max:
        d = np.sqrt(np.sum(np.square(src[:, :, None] - dst[:, None]), axis=-1))
        return d.min(axis=2), d.min(axis=1)
    d_src = np.empty(src.shape[:2])
    d_dst = np.empty(dst.shape[:2])
    for i in range(src.shape[0]):
        d_src[i] = _tree(dst[i]).query(src[i])[0]
        d_dst[i] = _tree(src[i]).query(dst[i])[0]
    return d_src, d_dst


def _tree(points: np.ndarray) -> cKDTree:
    # Unbalanced, non-compact trees build ~2x faster and query as fast for a few hundred points.
    return cKDTree(points, balanced_tree=False, compact_nodes=False)


def f_scores_from_distances(d_gt: np.ndarray, d_pred: np.ndarray,
                            thresholds: Sequence[float] = F_THRESHOLDS) -> np.ndarray:
    """Per-sample F-scores (N, T) from nearest-neighbour distances (official ``calculate_fscore``).

    ``d_gt``: (N, P) gt -> pred distances; ``d_pred``: (N, Q) pred -> gt distances. Strict ``<``.
    """
    th = np.asarray(thresholds, dtype=np.float64)
    precision = (d_gt[..., None] < th).mean(axis=1)  # (N, T): gt points matched by the prediction
    recall = (d_pred[..., None] < th).mean(axis=1)  # (N, T): predicted points close to the gt
    denom = precision + recall
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return f


def f_scores(gt: np.ndarray, pred: np.ndarray, thresholds: Sequence[float] = F_THRESHOLDS) -> np.ndarray:
    """Per-sample F-scores (N, T) between point sets gt (N, P, 3) and pred (N, Q, 3)."""
    d_gt, d_pred = nn_distances(gt, pred)
    return f_scores_from_distances(d_gt, d_pred, thresholds)


def _paired_fscores(gt: np.ndarray, preds: Sequence[np.ndarray], thresholds: Sequence[float]
                    ) -> list[np.ndarray]:
    """F-scores of several predictions against the same gt, sharing one k-d tree per gt sample.

    Only ``distance < threshold`` matters, so each point gets an *effective* distance ``d_eff`` with
    ``d_eff < t  <=>  NN distance < t`` for every threshold t, found with as little search as possible:
    when both sets have the same size, ``u_i = |gt_i - pred_i|`` bounds both points' NN distances from
    above, which settles every threshold above ``u_i``; the k-d tree is searched only up to the largest
    threshold not above ``u_i`` (beyond it, ``u_i`` itself decides), and not at all when ``u_i`` is below
    the smallest threshold. ``d_eff = min(u_i, NN distance if below the search bound else inf)``.
    """
    gt = _as_batch(gt)
    n, p = gt.shape[:2]
    if p * max(x.shape[1] for x in preds) <= 4096:
        return [f_scores(gt, x, thresholds) for x in preds]
    th = np.sort(np.asarray(thresholds, dtype=np.float64))
    out = []
    gt_trees: list = [None] * n
    for x in preds:
        x = _as_batch(x)
        if x.shape[1] == p:
            bound = np.sqrt(np.square(gt - x).sum(axis=-1))  # (N, P) upper bound, both directions
        else:
            bound = None
        d_gt = np.empty(gt.shape[:2])
        d_pr = np.empty(x.shape[:2])
        for i in range(n):
            for src, dst, d_out, tree_cache in ((gt[i], x[i], d_gt, None), (x[i], gt[i], d_pr, gt_trees)):
                u = bound[i] if bound is not None else np.full(len(src), np.inf)
                level = np.searchsorted(th, u, side="right")  # thresholds <= u: undecided by u
                d = u.copy()
                tree = None
                for k in range(len(th)):
                    sel = np.flatnonzero(level == k + 1)  # search up to th[k], the largest undecided
                    if len(sel) == 0:
                        continue
                    if tree is None:
                        if tree_cache is not None:
                            if tree_cache[i] is None:
                                tree_cache[i] = _tree(dst)
                            tree = tree_cache[i]
                        else:
                            tree = _tree(dst)
                    d[sel] = np.minimum(d[sel], tree.query(src[sel], distance_upper_bound=th[k])[0])
                d_out[i] = d
        out.append(f_scores_from_distances(d_gt, d_pr, thresholds))
    return out


def keypoint_fscore_key(threshold: float, aligned: bool = False) -> str:
    """Name of a keypoint F-score in :func:`keypoint_scores`: ``kp-F@5mm`` or, aligned, ``kp-PA-F@5mm``.

    ``threshold`` in metres, written in mm with ``%g`` (0.0075 -> ``kp-F@7.5mm``). The ``kp-`` prefix
    keeps these 21-keypoint F-scores apart from the leaderboard's mesh-vertex F@5mm / F@15mm.
    """
    return f"kp-{'PA-' if aligned else ''}F@{threshold * 1000:g}mm"


def keypoint_scores(gt: np.ndarray, pred: np.ndarray, auc_range: tuple = AUC_RANGE,
                    f_thresholds: Sequence[float] = F_THRESHOLDS) -> dict[str, float]:
    """FreiHAND keypoint metrics for (N, 21, 3) arrays in metres, reported as used by papers.

    Returns EPE / PA-EPE in millimetres, AUC / PA-AUC over ``auc_range`` (official: 0-50 mm, 100
    steps) and F-scores of the 21-keypoint sets at ``f_thresholds`` (plain and Procrustes-aligned) in
    [0, 1], named by :func:`keypoint_fscore_key` (``kp-F@5mm``, ``kp-PA-F@5mm``, ``kp-F@15mm``,
    ``kp-PA-F@15mm`` by default). These are not the leaderboard's F@5mm / F@15mm, which score the mesh
    vertices (:func:`freihand_scores`' ``f_score_5`` ...).
    """
    gt, pred = _as_batch(gt), _as_batch(pred)
    aligned, _ = align_w_scale(gt, pred)
    plain = epe_auc(point_errors(gt, pred), *auc_range)
    al = epe_auc(point_errors(gt, aligned), *auc_range)
    out = {"EPE": plain.mean * 1000.0, "PA-EPE": al.mean * 1000.0, "AUC": plain.auc, "PA-AUC": al.auc}
    f_plain, f_al = _paired_fscores(gt, [pred, aligned], f_thresholds)
    for k, th in enumerate(f_thresholds):
        out[keypoint_fscore_key(th)] = float(f_plain[:, k].mean())
        out[keypoint_fscore_key(th, aligned=True)] = float(f_al[:, k].mean())
    return out


def freihand_scores(gt_xyz: np.ndarray, pred_xyz: np.ndarray, gt_verts: np.ndarray | None = None,
                    pred_verts: np.ndarray | None = None, f_thresholds: Sequence[float] = F_THRESHOLDS
                    ) -> tuple[dict[str, float], dict[str, list]]:
    """Everything the official ``eval.py`` computes, with its ``scores.txt`` keys and units.

    Args:
        gt_xyz, pred_xyz: (N, 21, 3) keypoints in metres.
        gt_verts: (N, 778, 3) ground-truth mesh, or None (then mesh errors and F-scores are -1).
        pred_verts: (N, V, 3) predicted vertices; V == gt's V means a MANO mesh (mesh errors are
            computed and vertices aligned on their own), otherwise vertices are aligned with the
            keypoint trafo and only F-scores are computed, as the official script does.

    Returns:
        ``(scores, pck_curves)``: ``scores`` maps the official keys (``xyz_mean3d`` ... mean errors in
        cm, AUCs in [0, 1], ``f_score_5`` ...: F-scores of the mesh vertices, the leaderboard's F@5mm,
        -1 without vertices; no keypoint F-scores) to floats; ``pck_curves`` maps ``xyz``, ``xyz_al``,
        ``mesh``, ``mesh_al`` to ``[thresholds_cm, pck]`` lists (the official ``pck_data.json``).
    """
    xyz_al, trafo = align_w_scale(gt_xyz, pred_xyz)
    res = epe_auc(point_errors(gt_xyz, pred_xyz))
    res_al = epe_auc(point_errors(gt_xyz, xyz_al))
    scores = {"xyz_mean3d": res.mean * 100.0, "xyz_auc3d": res.auc,
              "xyz_al_mean3d": res_al.mean * 100.0, "xyz_al_auc3d": res_al.auc}
    curves = {"xyz": [(res.thresholds * 100).tolist(), res.pck_curve.tolist()],
              "xyz_al": [(res_al.thresholds * 100).tolist(), res_al.pck_curve.tolist()]}
    no_curve = [[0.0, 100.0], [-1.0, -1.0]]
    if gt_verts is not None and pred_verts is not None:
        gt_verts, pred_verts = _as_batch(gt_verts), _as_batch(pred_verts)
        is_mano = pred_verts.shape[1] == gt_verts.shape[1]
        if is_mano:
            verts_al, _ = align_w_scale(gt_verts, pred_verts)
            mesh = epe_auc(point_errors(gt_verts, pred_verts))
            mesh_al = epe_auc(point_errors(gt_verts, verts_al))
            scores.update(mesh_mean3d=mesh.mean * 100.0, mesh_auc3d=mesh.auc,
                          mesh_al_mean3d=mesh_al.mean * 100.0, mesh_al_auc3d=mesh_al.auc)
            curves["mesh"] = [(mesh.thresholds * 100).tolist(), mesh.pck_curve.tolist()]
            curves["mesh_al"] = [(mesh_al.thresholds * 100).tolist(), mesh_al.pck_curve.tolist()]
        else:
            verts_al = align_by_trafo(pred_verts, trafo)
            scores.update(mesh_mean3d=-100.0, mesh_auc3d=-1.0, mesh_al_mean3d=-100.0, mesh_al_auc3d=-1.0)
            curves["mesh"] = curves["mesh_al"] = no_curve
        f_plain, f_al = _paired_fscores(gt_verts, [pred_verts, verts_al], f_thresholds)
        f_plain, f_al = f_plain.mean(axis=0), f_al.mean(axis=0)
    else:
        scores.update(mesh_mean3d=-100.0, mesh_auc3d=-1.0, mesh_al_mean3d=-100.0, mesh_al_auc3d=-1.0)
        curves["mesh"] = curves["mesh_al"] = no_curve
        f_plain = f_al = np.full(len(f_thresholds), -1.0)
    for k, th in enumerate(f_thresholds):
        scores[f"f_score_{round(th * 1000)}"] = float(f_plain[k])
        scores[f"f_al_score_{round(th * 1000)}"] = float(f_al[k])
    return scores, curves


SCORE_KEYS = ("xyz_mean3d", "xyz_auc3d", "xyz_al_mean3d", "xyz_al_auc3d", "mesh_mean3d", "mesh_auc3d",
              "mesh_al_mean3d", "mesh_al_auc3d", "f_score_5", "f_al_score_5", "f_score_15", "f_al_score_15")


def format_scores(scores: dict[str, float]) -> str:
    """``scores.txt`` text: official key order for the official keys, ``key: %f`` per line."""
    keys = [k for k in SCORE_KEYS if k in scores] + [k for k in scores if k not in SCORE_KEYS]
    return "".join(f"{k}: {scores[k]:f}\n" for k in keys)


# A hand's keypoints lie well within 10 m of the camera: a median distance beyond this is millimetres.
MILLIMETRE_HINT = 10.0


class FreiHandScoringWarning(UserWarning):
    """A submission that scores, but likely not as meant (millimetres, no vertices)."""


def evaluate_files(pred_file: str | os.PathLike, gt_dir: str | os.PathLike, set_name: str = "evaluation"
                   ) -> tuple[dict[str, float], dict[str, list]]:
    """Score a Codalab submission file against a ground-truth folder, as the official server does.

    Args:
        pred_file: ``pred.json``, ``[xyz_list, verts_list]`` in metres: (N, 21, 3) keypoints and (N, V, 3)
            vertices, in the sample order of the ground truth; ``[xyz_list]`` scores the keypoints only.
        gt_dir: folder holding ``<set_name>_xyz.json`` (N, 21, 3) metres and, optionally,
            ``<set_name>_verts.json`` (N, 778, 3) metres (without it mesh errors and F-scores are -1).
        set_name: the annotation files' prefix.

    Returns:
        :func:`freihand_scores`'s ``(scores, pck_curves)``.

    Warns:
        FreiHandScoringWarning: keypoints that look like millimetres; a submission without vertices where
            the ground truth has them (mesh scores -1).

    Raises:
        FreiHandFormatError: a missing or malformed file, a wrong length or shape, a non-finite value, or
            scores that are not finite (predictions too large to score); one line naming the file.
    """
    gt_xyz = read_field(annotation_file(gt_dir, set_name, "xyz"), "xyz")
    verts_file = annotation_file(gt_dir, set_name, "verts")
    gt_verts = read_field(verts_file, "verts", len(gt_xyz)) if os.path.isfile(verts_file) else None
    xyz, verts = read_submission(pred_file, len(gt_xyz))
    size = float(np.median(np.linalg.norm(xyz, axis=-1)))
    if size > MILLIMETRE_HINT:
        warnings.warn(f"{pred_file}: keypoints look like millimetres (median distance {size:.0f} from the "
                      "origin); FreiHAND scores metres: divide by 1000", FreiHandScoringWarning, stacklevel=2)
    if verts is None and gt_verts is not None:
        warnings.warn(f"{pred_file}: no vertices in the submission: keypoints scored, mesh errors and mesh "
                      "F-scores not scored (-1)", FreiHandScoringWarning, stacklevel=2)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as non-finite scores, refused below
        scores, curves = freihand_scores(gt_xyz, xyz, gt_verts, verts if gt_verts is not None else None)
    bad = [k for k, v in scores.items() if not np.isfinite(v)]
    if bad:
        raise FreiHandFormatError(f"{pred_file}: scores {bad} are not finite (predictions too large "
                                  "to score: values must be metres)")
    return scores, curves


def write_scores(out: str | os.PathLike, scores: dict[str, float], curves: dict[str, list]) -> list[Path]:
    """Write ``out/scores.txt`` (:func:`format_scores`) and ``out/pck_data.json`` (``curves``) as one set:
    both are staged first, so a failed write leaves any old pair untouched.

    Args:
        out: the folder (created).
        scores: :func:`freihand_scores`'s scores.
        curves: :func:`freihand_scores`'s PCK curves.

    Returns:
        The two paths written.

    Raises:
        OSError: ``out`` cannot be created or written to.
    """
    out = Path(out)
    return atomic_write_set({out / "scores.txt": lambda f: f.write(format_scores(scores)),
                             out / "pck_data.json": lambda f: json.dump(curves, f)})
