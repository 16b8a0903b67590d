"""Linear probe of a frozen backbone: ridge regression from pooled features to 2.5-D hand pose.

The standard check of self-supervised features: the backbone stays frozen (eval mode, no gradients), its
last feature map is globally average-pooled, and a closed-form ridge regression maps the features to the
:class:`~peclr_mm.pose.Hand25D` targets ``(u / w, v / h, z_rel / s)``. Features are standardised with the
training statistics and the intercept is not penalised; lambda is chosen on a held-out part of the
*training* split (whole samples: all image versions of a sample on one side), never on the evaluation
split, then the probe is refitted on all training features. Predictions are decoded with the closed-form
root (the probe has no z-root MLP) and scored with FreiHAND's protocol
(:func:`peclr_mm.freihand_eval.keypoint_scores`), beside a mean-pose baseline; :func:`format_table` renders
the result as the markdown table ``tools/linear_probe.py`` prints.

Imports mmpose/mmengine/torch/numpy only (never mmpretrain).
"""
from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from peclr_mm.freihand_eval import keypoint_scores
from peclr_mm.geometry import project
from peclr_mm.pose.hand25d import Hand25D

# Ridge penalties tried by default, in units of the (standardised) features' sum of squares.
DEFAULT_LAMBDAS = tuple(float(x) for x in np.logspace(-2, 6, 17))


class RidgeModel(NamedTuple):
    """A ridge regression on standardised features: ``Y = ((X - mean) / std) @ weight + bias``.

    Attributes:
        mean (np.ndarray): (D,) training feature means.
        std (np.ndarray): (D,) training feature standard deviations (1 for constant features).
        weight (np.ndarray): (D, M) regression weights.
        bias (np.ndarray): (M,) the training targets' mean (the unpenalised intercept).
        lam (float): the ridge penalty.
        out_shape (tuple): the shape of one target, e.g. (21, 3).
    """

    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    lam: float
    out_shape: tuple

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N, *out_shape) float64 predictions."""
        X = np.asarray(X, np.float64)
        out = ((X - self.mean) / self.std) @ self.weight + self.bias
        return out.reshape((len(X),) + self.out_shape)


def _check_xy(X: np.ndarray, Y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    if X.ndim != 2 or len(X) != len(Y) or len(X) == 0:
        raise ValueError(f'{what}: features must be (N, D) and targets (N, ...) with N > 0, got '
                         f'{X.shape} and {Y.shape}')
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise ValueError(f'{what}: non-finite features or targets (NaN or inf)')
    return X, Y


def _ridge_path(X: np.ndarray, Y: np.ndarray, lambdas: Sequence[float]) -> list[RidgeModel]:
    """Ridge fits for several penalties from one SVD of the standardised features.

    With ``Xs = U S V^T`` (centred, so the unpenalised intercept is the targets' mean), the solution is
    ``W = V diag(S / (S^2 + lam)) U^T (Y - mean(Y))``.
    """
    X, Y = _check_xy(X, Y, 'ridge')
    if any(not (lam >= 0 and np.isfinite(lam)) for lam in lambdas):
        raise ValueError(f'ridge: lambdas must be finite and >= 0, got {list(lambdas)}')
    mean = X.mean(0)
    std = X.std(0)
    std = np.where(std > 1e-12 * max(1.0, float(np.abs(mean).max(initial=0.0))), std, 1.0)
    Yf = Y.reshape(len(Y), -1)
    bias = Yf.mean(0)
    u, s, vt = np.linalg.svd((X - mean) / std, full_matrices=False)
    uty = u.T @ (Yf - bias)
    keep = s > s.max(initial=0.0) * max(X.shape) * np.finfo(np.float64).eps  # rank as numpy's lstsq
    out = []
    for lam in lambdas:
        gain = np.where(keep, s / (s * s + lam), 0.0)
        out.append(RidgeModel(mean, std, vt.T @ (gain[:, None] * uty), bias, float(lam), Y.shape[1:]))
    return out


def fit_ridge(X: np.ndarray, Y: np.ndarray, lam: float) -> RidgeModel:
    """Closed-form ridge regression on standardised features, intercept not penalised.

    Args:
        X (np.ndarray): (N, D) training features.
        Y (np.ndarray): (N, ...) training targets (e.g. (N, 21, 3) 2.5-D labels).
        lam (float): penalty on the squared weights of the standardised features (0: least squares,
            minimum-norm where rank deficient).

    Returns:
        RidgeModel: ``predict((M, D)) -> (M, ...)``.
    """
    return _ridge_path(X, Y, [lam])[0]


def uv_error(pred: np.ndarray, target: np.ndarray, input_size: Sequence[int] = (1, 1)) -> float:
    """Mean over samples and joints of the Euclidean (u, v) distance of (N, K, >=2) labels, in units of
    ``input_size`` (pixels of the input for normalised labels and the input's ``(w, h)``)."""
    d = (np.asarray(pred, np.float64)[..., :2] - np.asarray(target, np.float64)[..., :2]) * np.asarray(
        input_size, np.float64)
    return float(np.sqrt((d * d).sum(-1)).mean())


def select_ridge(X_tr: np.ndarray, Y_tr: np.ndarray, X_val: np.ndarray, Y_val: np.ndarray,
                 lambdas: Sequence[float] = DEFAULT_LAMBDAS) -> tuple[RidgeModel, dict[float, float]]:
    """Choose lambda by the mean (u, v) error on held-out *training* data, then refit on all of it.

    Args:
        X_tr (np.ndarray): (N, D) features the candidates are fitted on.
        Y_tr (np.ndarray): (N, K, 3) labels the candidates are fitted on.
        X_val (np.ndarray): (M, D) features of the held-out part of the training split.
        Y_val (np.ndarray): (M, K, 3) labels of the held-out part of the training split.
        lambdas (Sequence[float]): candidate penalties. Defaults to :data:`DEFAULT_LAMBDAS`.

    Returns:
        tuple: the model refitted on ``X_tr + X_val`` with the chosen lambda (the smallest error; ties go
        to the earlier candidate), and ``{lambda: held-out (u, v) error}`` in label units.
    """
    X_val, Y_val = _check_xy(X_val, Y_val, 'select_ridge (held-out)')
    if not lambdas:
        raise ValueError('select_ridge: no lambdas to choose from')
    errors = {m.lam: uv_error(m.predict(X_val), Y_val) for m in _ridge_path(X_tr, Y_tr, lambdas)}
    best = min(errors, key=errors.get)
    X_all = np.concatenate([np.asarray(X_tr, np.float64), X_val])
    Y_all = np.concatenate([np.asarray(Y_tr, np.float64), Y_val])
    return fit_ridge(X_all, Y_all, best), errors


@torch.no_grad()
def extract_features(model: nn.Module, batches: Iterable[dict], device: str | torch.device = 'cpu'
                     ) -> dict[str, np.ndarray]:
    """Globally average-pooled last feature map of a frozen backbone, with the 3-D labels of each sample.

    Args:
        model (nn.Module): a pose estimator (e.g. ``TopdownPoseEstimator``) with ``data_preprocessor``
            (normalisation, BGR -> RGB, batching) and ``backbone`` (returns a tuple of (B, C, h, w) maps
            or one map). Run in eval mode under ``no_grad``; its mode is restored afterwards.
        batches (Iterable[dict]): ``pseudo_collate``-d batches (``inputs``, ``data_samples``) of an mmpose
            pipeline ending in :class:`~peclr_mm.pose.PackHand3DInputs`, e.g. a ``DataLoader``.
        device (str | torch.device): where the backbone runs. Defaults to ``'cpu'``.

    Returns:
        dict: ``features`` (N, C) float64, ``input_K`` (N, 3, 3), ``hand_scale`` (N,) metres,
        ``keypoints_cam`` (N, K, 3) metres in the original camera frame.
    """
    was_training = model.training
    model.to(device).eval()
    feats, Ks, scales, xyz = [], [], [], []
    try:
        for batch in batches:
            data = model.data_preprocessor(batch, training=False)
            out = model.backbone(data['inputs'])
            last = out[-1] if isinstance(out, tuple | list) else out
            feats.append(last.float().mean(dim=(2, 3)).cpu().double().numpy())
            for ds in data['data_samples']:
                gt = ds.gt_instances
                Ks.append(np.asarray(gt.input_K, np.float64).reshape(3, 3))
                scales.append(float(np.asarray(gt.hand_scale).reshape(-1)[0]))
                xyz.append(np.asarray(gt.keypoints_cam, np.float64).reshape(-1, 3))
    finally:
        model.train(was_training)
    if not feats:
        raise ValueError('extract_features: no batches')
    return dict(features=np.concatenate(feats), input_K=np.stack(Ks), hand_scale=np.asarray(scales),
                keypoints_cam=np.stack(xyz))


def encode_labels(codec: Hand25D, keypoints_cam: np.ndarray, input_K: np.ndarray,
                  hand_scale: np.ndarray) -> np.ndarray:
    """(N, K, 3) camera-frame joints -> (N, K, 3) float64 2.5-D labels with ``codec.encode``."""
    keypoints_cam = np.asarray(keypoints_cam, np.float64)
    enc = codec.encode(np.zeros(keypoints_cam.shape[:-1] + (2,)), None, keypoints_cam, input_K, hand_scale)
    return enc['keypoint_labels'].astype(np.float64)


def probe_scores(pred_labels: np.ndarray, input_K: np.ndarray, hand_scale: np.ndarray, gt_xyz: np.ndarray,
                 codec: Hand25D) -> dict[str, float]:
    """Decode predicted 2.5-D labels and score them against camera-frame ground truth.

    Args:
        pred_labels (np.ndarray): (N, K, 3) predicted ``(u / w, v / h, z_rel / s)``.
        input_K (np.ndarray): (N, 3, 3) intrinsics of the network input.
        hand_scale (np.ndarray): (N,) reference bone length, metres.
        gt_xyz (np.ndarray): (N, K, 3) ground-truth joints in the original camera frame, metres.
        codec (Hand25D): decodes with the closed-form root depth.

    Returns:
        dict: :func:`keypoint_scores` of the absolute joints (``EPE``, ``PA-EPE`` mm, ``AUC``, ``PA-AUC``,
        keypoint F-scores ``kp-F@5mm`` ...), ``RR-EPE`` (mm) / ``RR-AUC`` of root-relative joints (free of the closed-form root's
        error), ``uv_px`` (mean 2-D error in input pixels) and ``z_rel_mm`` (mean error of the
        root-relative depth over the non-root joints, mm).
    """
    gt_xyz = np.asarray(gt_xyz, np.float64)
    if np.shape(pred_labels) != gt_xyz.shape:
        raise ValueError(f'probe_scores: predictions {np.shape(pred_labels)} and ground truth '
                         f'{gt_xyz.shape} differ in shape')
    xyz, uv = codec.decode(pred_labels, input_K, hand_scale)
    r = codec.root_index
    scores = keypoint_scores(gt_xyz, xyz)
    rel = keypoint_scores(gt_xyz - gt_xyz[:, r:r + 1], xyz - xyz[:, r:r + 1])
    scores.update({'RR-EPE': rel['EPE'], 'RR-AUC': rel['AUC']})
    d = uv - project(gt_xyz, np.asarray(input_K, np.float64))
    scores['uv_px'] = float(np.sqrt((d * d).sum(-1)).mean())
    dz = (xyz[..., 2] - xyz[:, r, None, 2]) - (gt_xyz[..., 2] - gt_xyz[:, r, None, 2])
    scores['z_rel_mm'] = float(np.abs(np.delete(dz, r, axis=1)).mean() * 1000.0)
    return {k: float(v) for k, v in scores.items()}


def load_backbone_weights(backbone: nn.Module, filename: str) -> None:
    """Load ``backbone.*`` tensors of a checkpoint (``tools/export_backbone.py`` output, or any mmpose
    checkpoint of a top-down model) into ``backbone``, strictly, through the safe loader.

    Raises:
        ValueError: one line naming the file and the field: no ``backbone.*`` keys (the keys found are
            listed), missing/unexpected keys or a shape mismatch with the configured backbone.
    """
    from peclr_mm.checkpoint import extract_backbone

    weights = {k[len('backbone.'):]: v for k, v in extract_backbone(filename).items()}
    own = backbone.state_dict()
    missing, unexpected = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    if missing or unexpected:
        raise ValueError(f'{filename}: "backbone.*" keys do not match the config\'s backbone: missing '
                         f'{len(missing)} {missing[:3]}, unexpected {len(unexpected)} {unexpected[:3]}')
    for k, v in weights.items():
        if v.shape != own[k].shape:
            raise ValueError(f'{filename}: field "backbone.{k}" has shape {tuple(v.shape)}, the config\'s '
                             f'backbone expects {tuple(own[k].shape)}')
    backbone.load_state_dict(weights, strict=True)


def _probe_codec(cfg) -> Hand25D:
    """The config's ``Hand25D`` decoder, or one with the input size of the test pipeline's affine."""
    from mmpose.registry import KEYPOINT_CODECS

    dec = cfg.model.get('head', {}).get('decoder')
    if dec is not None and dec.get('type') in ('Hand25D', Hand25D):
        return KEYPOINT_CODECS.build(dec)
    affine = [t for t in cfg.test_dataloader.dataset.pipeline if t.get('type') == 'TopdownAffine3D']
    if not affine:
        raise ValueError('config: test_dataloader.dataset.pipeline has no TopdownAffine3D (needed for the '
                         'input intrinsics)')
    return Hand25D(input_size=tuple(affine[0]['input_size']))


def _init_quietly(model: nn.Module) -> None:
    """``model.init_weights()`` without mmengine's per-parameter INFO dump (hundreds of lines)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)


def _subset(n: int, num: int | None, rng: np.random.Generator, field: str) -> np.ndarray:
    if num is None:
        return np.arange(n)
    if not 0 < num <= n:
        raise ValueError(f'{field}: must be in [1, {n}] (the dataset size), got {num}')
    return np.sort(rng.choice(n, num, replace=False))


def _features(model: nn.Module, dataset, indices: np.ndarray, batch_size: int, device) -> dict:
    from mmengine.dataset import pseudo_collate
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices.tolist()),
                                         batch_size=batch_size, shuffle=False, collate_fn=pseudo_collate)
    return extract_features(model, loader, device)


def linear_probe(cfg: Any, checkpoint: str | None = None, num_train: int | None = None,
                 num_eval: int | None = None, val_fraction: float = 0.2,
                 lambdas: Sequence[float] = DEFAULT_LAMBDAS, seed: int = 0, batch_size: int = 64,
                 device: str = 'cpu') -> dict[str, Any]:
    """Linear probe of a config's backbone (random init or ``checkpoint``) on its FreiHAND-style data.

    The training split is ``train_dataloader.dataset`` with the deterministic test pipeline,
    ``label_fraction=1`` and ``val_ratio=0``; the evaluation split is ``test_dataloader.dataset``.

    Args:
        cfg (mmengine.Config | str): an mmpose top-down config of this project (e.g. a ``td-reg25d``
            config), or its path. Not modified.
        checkpoint (str, optional): backbone weights (``backbone.*`` keys, as written by
            ``tools/export_backbone.py``). None: the config's initialisation, seeded by ``seed``.
        num_train (int, optional): size of a random subset of the training images (by ``seed``);
            None: all.
        num_eval (int, optional): size of a random subset of the evaluation images (by ``seed``);
            None: all.
        val_fraction (float): fraction of the training *samples* held out to choose lambda.
        lambdas (Sequence[float]): candidate ridge penalties. Defaults to :data:`DEFAULT_LAMBDAS`.
        seed (int): seed of the subsets, the held-out split and the random initialisation.
        batch_size (int): feature-extraction batch size.
        device (str): where the backbone runs.

    Returns:
        dict: ``probe`` and ``mean_pose`` (:func:`probe_scores` dicts on the evaluation images),
        ``lambda`` (chosen), ``num_train``, ``num_eval``, ``feature_dim``, ``seconds`` (wall time).
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS, MODELS
    from mmpose.utils import register_all_modules

    start = time.perf_counter()
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f'val_fraction: must be in (0, 1), got {val_fraction}')
    cfg = Config.fromfile(cfg) if isinstance(cfg, str | os.PathLike) else copy.deepcopy(cfg)
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    if checkpoint is not None and 'init_cfg' in cfg.model.backbone:
        cfg.model.backbone.pop('init_cfg')  # all backbone weights come from the checkpoint
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    if checkpoint is None:
        _init_quietly(model)
    else:  # before reading any data: a bad file fails fast
        load_backbone_weights(model.backbone, checkpoint)
    for p in model.parameters():
        p.requires_grad_(False)

    test_ds = copy.deepcopy(cfg.test_dataloader.dataset)
    train_ds = copy.deepcopy(cfg.train_dataloader.dataset)
    train_ds.update(pipeline=copy.deepcopy(test_ds.pipeline), label_fraction=1.0, val_ratio=0.0, test_mode=True)
    train_set, test_set = DATASETS.build(train_ds), DATASETS.build(test_ds)

    rng = np.random.default_rng(seed)
    train_idx = _subset(len(train_set), num_train, rng, 'num_train')
    eval_idx = _subset(len(test_set), num_eval, rng, 'num_eval')
    # hold out whole samples (all image versions of a sample on the same side) to choose lambda
    sample_ids = np.array([train_set.get_data_info(int(i))['sample_id'] for i in train_idx])
    unique = np.unique(sample_ids)
    if len(unique) < 2:
        raise ValueError(f'num_train: the training images hold {len(unique)} sample(s); at least 2 are '
                         'needed to hold some out for choosing lambda')
    n_out = min(max(1, int(round(val_fraction * len(unique)))), len(unique) - 1)
    held = np.isin(sample_ids, rng.choice(unique, n_out, replace=False))

    codec = _probe_codec(cfg)
    tr = _features(model, train_set, train_idx, batch_size, device)
    ev = _features(model, test_set, eval_idx, batch_size, device)
    Y = encode_labels(codec, tr['keypoints_cam'], tr['input_K'], tr['hand_scale'])
    X = tr['features']
    ridge, _ = select_ridge(X[~held], Y[~held], X[held], Y[held], lambdas)

    score = dict(input_K=ev['input_K'], hand_scale=ev['hand_scale'], gt_xyz=ev['keypoints_cam'], codec=codec)
    mean_pose = np.broadcast_to(Y.mean(0), (len(eval_idx),) + Y.shape[1:])
    return {'probe': probe_scores(ridge.predict(ev['features']), **score),
            'mean_pose': probe_scores(mean_pose, **score),
            'lambda': ridge.lam, 'num_train': int(len(train_idx)), 'num_eval': int(len(eval_idx)),
            'feature_dim': int(X.shape[1]), 'seconds': time.perf_counter() - start}


# Columns of :func:`format_table`: (key of a probe_scores dict, header).
TABLE_COLUMNS = (('uv_px', 'uv px'), ('z_rel_mm', 'z_rel mm'), ('RR-EPE', 'RR-EPE mm'), ('EPE', 'EPE mm'),
                 ('PA-EPE', 'PA-EPE mm'), ('PA-AUC', 'PA-AUC'))


def format_table(res: dict[str, Any]) -> str:
    """Markdown table of the probe and the mean-pose baseline, one row each (3 decimals).

    Args:
        res: :func:`linear_probe`'s result (its ``probe`` and ``mean_pose`` dicts are read, for the keys
            of :data:`TABLE_COLUMNS`: uv in input pixels, errors in mm, AUC in [0, 1]).

    Returns:
        str: the table, without a final newline.
    """
    lines = ['| | ' + ' | '.join(name for _, name in TABLE_COLUMNS) + ' |',
             '|---' * (len(TABLE_COLUMNS) + 1) + '|']
    for key, name in (('probe', 'linear probe'), ('mean_pose', 'mean pose')):
        lines.append(f'| {name} | ' + ' | '.join(f'{res[key][k]:.3f}' for k, _ in TABLE_COLUMNS) + ' |')
    return '\n'.join(lines)
