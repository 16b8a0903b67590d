"""Linear probe of a frozen backbone: ridge regression from pooled features to 2.5-D hand pose.

The standard check of self-supervised features: the backbone stays frozen (eval mode, no gradients), its
last feature map is globally average-pooled, and a closed-form ridge regression maps the features to the
:class:`~peclr_mm.pose.Hand25D` targets ``(u / w, v / h, z_rel / s)``. Features are standardised with the
training statistics and the intercept is not penalised; lambda is chosen on a held-out part of the
*training* split (whole samples: all image versions of a sample on one side), never on the evaluation
split, then the probe is refitted on all training features. Predictions are decoded with the closed-form
root (the probe has no z-root MLP) and scored with FreiHAND's protocol
(:func:`peclr_mm.freihand.scorer.keypoint_scores`), beside a mean-pose baseline; :func:`format_table` renders
the result as the markdown table ``tools/linear_probe.py`` prints.

The **geometry probe** (:func:`geometry_probe` on feature arrays, :func:`probe_backbones` on a config and
checkpoints) reads three targets from several feature sets of each backbone: (a) the hand's in-plane
orientation, the wrist -> middle-finger MCP direction in the input image, regressed as ``(cos, sin)``, read
with ``atan2`` and scored in degrees (wrapped to [0, 180]; chance is 90); (b) the 2-D keypoints in input
pixels (mean per-joint distance); (c) the root-relative 3-D joints, scored as PA-EPE (mm) with the FreiHAND
core's Procrustes alignment. Readouts: ridge (lambda) and k-NN (k), each chosen per target on held-out
training samples; label budgets (e.g. 200 images and all); a mean-pose row per budget.

Imports mmpose/mmengine/torch/numpy only (never mmpretrain): a projection neck is passed in as a module.
"""
from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from peclr_mm.features import pool_features
from peclr_mm.freihand.scorer import align_w_scale, keypoint_scores, point_errors
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


def _standardisation(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) -> per-feature mean and standard deviation (D,), 1 for constant features."""
    mean = X.mean(0)
    std = X.std(0)
    return mean, np.where(std > 1e-12 * max(1.0, float(np.abs(mean).max(initial=0.0))), std, 1.0)


def _ridge_path(X: np.ndarray, Y: np.ndarray, lambdas: Sequence[float]) -> list[RidgeModel]:
    """Ridge fits for several penalties from one decomposition of the standardised features ``Xs``
    (centred, so the unpenalised intercept is the targets' mean; ``Yc`` the centred targets).

    Every penalty > 0: the eigendecomposition of the smaller Gram matrix, ``Xs^T Xs = V diag(e) V^T`` (N >= D,
    ``W = V diag(1 / (e + lam)) V^T Xs^T Yc``) or ``Xs Xs^T = U diag(e) U^T`` (N < D, ``W = Xs^T U
    diag(1 / (e + lam)) U^T Yc``), ~4x faster than an SVD for 4,000 x 2,048 features. A penalty of 0
    (least squares, minimum norm where rank deficient): ``Xs = U S V^T``, ``W = V diag(S / (S^2 + lam)) U^T Yc``
    with singular values below numpy's ``lstsq`` rank cut-off dropped.
    """
    X, Y = _check_xy(X, Y, 'ridge')
    if any(not (lam >= 0 and np.isfinite(lam)) for lam in lambdas):
        raise ValueError(f'ridge: lambdas must be finite and >= 0, got {list(lambdas)}')
    mean, std = _standardisation(X)
    Yf = Y.reshape(len(Y), -1)
    bias = Yf.mean(0)
    Xs, Yc = (X - mean) / std, Yf - bias
    if lambdas and min(lambdas) > 0:
        tall = len(Xs) >= Xs.shape[1]
        evals, vecs = np.linalg.eigh(Xs.T @ Xs if tall else Xs @ Xs.T)
        evals = np.clip(evals, 0.0, None)  # rounding can leave tiny negative eigenvalues
        proj = vecs.T @ (Xs.T @ Yc if tall else Yc)

        def weight(lam: float) -> np.ndarray:
            w = vecs @ (proj / (evals + lam)[:, None])
            return w if tall else Xs.T @ w
    else:
        u, s, vt = np.linalg.svd(Xs, full_matrices=False)
        uty = u.T @ Yc
        keep = s > s.max(initial=0.0) * max(X.shape) * np.finfo(np.float64).eps  # rank as numpy's lstsq

        def weight(lam: float) -> np.ndarray:
            return vt.T @ (np.where(keep, s / (s * s + lam), 0.0)[:, None] * uty)
    return [RidgeModel(mean, std, weight(lam), bias, float(lam), Y.shape[1:]) for lam in lambdas]


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
                 lambdas: Sequence[float] = DEFAULT_LAMBDAS,
                 error: Callable[[np.ndarray, np.ndarray], float] = uv_error
                 ) -> tuple[RidgeModel, dict[float, float]]:
    """Choose lambda by the error on held-out *training* data (default: mean (u, v) error), then refit on
    all of it.

    Args:
        X_tr (np.ndarray): (N, D) features the candidates are fitted on.
        Y_tr (np.ndarray): (N, K, 3) labels the candidates are fitted on.
        X_val (np.ndarray): (M, D) features of the held-out part of the training split.
        Y_val (np.ndarray): (M, K, 3) labels of the held-out part of the training split.
        lambdas (Sequence[float]): candidate penalties. Defaults to :data:`DEFAULT_LAMBDAS`.
        error (Callable): ``error(prediction, target) -> float`` on the held-out part. Defaults to
            :func:`uv_error`.

    Returns:
        tuple: the model refitted on ``X_tr + X_val`` with the chosen lambda (the smallest error; ties go
        to the earlier candidate), and ``{lambda: held-out error}`` (for :func:`uv_error`: label units).
    """
    X_val, Y_val = _check_xy(X_val, Y_val, 'select_ridge (held-out)')
    if not lambdas:
        raise ValueError('select_ridge: no lambdas to choose from')
    errors = {m.lam: error(m.predict(X_val), Y_val) for m in _ridge_path(X_tr, Y_tr, lambdas)}
    best = min(errors, key=errors.get)
    X_all = np.concatenate([np.asarray(X_tr, np.float64), X_val])
    Y_all = np.concatenate([np.asarray(Y_tr, np.float64), Y_val])
    return fit_ridge(X_all, Y_all, best), errors


@torch.no_grad()
def extract_features(model: nn.Module, batches: Iterable[dict], device: str | torch.device = 'cpu',
                     spatial: int | None = None, grid: int = 4, neck: nn.Module | None = None
                     ) -> dict[str, np.ndarray]:
    """Globally average-pooled last feature map of a frozen backbone, with the 3-D labels of each sample;
    optionally an earlier map pooled to a grid, and a projection.

    Args:
        model (nn.Module): a pose estimator (e.g. ``TopdownPoseEstimator``) with ``data_preprocessor``
            (normalisation, BGR -> RGB, batching) and ``backbone`` (returns a tuple of (B, C, h, w) maps
            or one map). Run in eval mode under ``no_grad``; its mode is restored afterwards.
        batches (Iterable[dict]): ``pseudo_collate``-d batches (``inputs``, ``data_samples``) of an mmpose
            pipeline ending in :class:`~peclr_mm.pose.PackHand3DInputs`, e.g. a ``DataLoader``.
        device (str | torch.device): where the backbone runs. Defaults to ``'cpu'``.
        spatial (int, optional): index, in the backbone's output tuple, of a map to return as ``spatial``
            (:func:`~peclr_mm.features.pool_features` to ``grid x grid``). Defaults to None (not returned).
        grid (int): cells per side of ``spatial``. Defaults to 4.
        neck (nn.Module, optional): a projection taking ``(last map,)`` and returning ``(z,)`` (e.g.
            mmpretrain's ``NonLinearNeck`` of a SelfSupervisor), run in eval mode; its output is returned
            as ``z``. Defaults to None.

    Returns:
        dict: ``features`` (N, C) float64, ``input_K`` (N, 3, 3), ``hand_scale`` (N,) metres,
        ``keypoints_cam`` (N, K, 3) metres in the original camera frame; ``spatial`` (N, C' * grid^2) and
        ``z`` (N, D) float64 when asked for.
    """
    modules = [m for m in (model, neck) if m is not None]
    modes = [m.training for m in modules]
    for m in modules:
        m.to(device).eval()
    feats: dict[str, list] = {'features': [], 'spatial': [], 'z': []}
    Ks, scales, xyz = [], [], []
    try:
        for batch in batches:
            data = model.data_preprocessor(batch, training=False)
            out = model.backbone(data['inputs'])
            out = tuple(out) if isinstance(out, tuple | list) else (out,)
            feats['features'].append(pool_features(out[-1].float()))
            if spatial is not None:
                feats['spatial'].append(pool_features(out[spatial].float(), grid))
            if neck is not None:
                feats['z'].append(neck((out[-1],))[0].float())
            for ds in data['data_samples']:
                gt = ds.gt_instances
                Ks.append(np.asarray(gt.input_K, np.float64).reshape(3, 3))
                scales.append(float(np.asarray(gt.hand_scale).reshape(-1)[0]))
                xyz.append(np.asarray(gt.keypoints_cam, np.float64).reshape(-1, 3))
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)
    if not feats['features']:
        raise ValueError('extract_features: no batches')
    res = {k: torch.cat(v).cpu().double().numpy() for k, v in feats.items() if v}
    return dict(res, input_K=np.stack(Ks), hand_scale=np.asarray(scales), keypoints_cam=np.stack(xyz))


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
    load_prefixed_weights(backbone, weights, filename, 'backbone.', "the config's backbone")


def load_prefixed_weights(module: nn.Module, weights: Mapping[str, torch.Tensor], filename: str, prefix: str,
                          owner: str) -> None:
    """Load ``weights`` (a checkpoint's ``prefix*`` tensors, ``prefix`` removed) into ``module`` strictly.

    Raises:
        ValueError: one line naming ``filename``, ``prefix`` and ``owner`` (what ``module`` was built from):
            missing/unexpected keys, or the first tensor of another shape.
    """
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    if missing or unexpected:
        raise ValueError(f'{filename}: "{prefix}*" keys do not match {owner}: missing '
                         f'{len(missing)} {missing[:3]}, unexpected {len(unexpected)} {unexpected[:3]}')
    for k, v in weights.items():
        if v.shape != own[k].shape:
            raise ValueError(f'{filename}: field "{prefix}{k}" has shape {tuple(v.shape)}, {owner} '
                             f'expects {tuple(own[k].shape)}')
    module.load_state_dict(weights, strict=True)


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


def _batches(dataset, indices: np.ndarray, batch_size: int, keep: bool = False) -> Iterable[dict]:
    """The ``indices`` of ``dataset`` as ``pseudo_collate``-d batches; ``keep``: loaded once into a list (for
    several backbones on the same images)."""
    from mmengine.dataset import pseudo_collate
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices.tolist()),
                                         batch_size=batch_size, shuffle=False, collate_fn=pseudo_collate)
    return list(loader) if keep else loader


def _features(model: nn.Module, dataset, indices: np.ndarray, batch_size: int, device, **kwargs) -> dict:
    return extract_features(model, _batches(dataset, indices, batch_size), device, **kwargs)


# The geometry probe keeps its input images in memory across backbones up to this size (uint8 pixels).
KEEP_BATCHES_BYTES = 1 << 30


def _probe_config(cfg: Any) -> Any:
    """A private copy of the config (or the config at a path), with mmpose's registries as default scope."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.utils import register_all_modules

    cfg = Config.fromfile(cfg) if isinstance(cfg, str | os.PathLike) else copy.deepcopy(cfg)
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    return cfg


def _frozen_model(cfg: Any, checkpoint: str | None, seed: int) -> nn.Module:
    """The config's model with the backbone from ``checkpoint`` (None: the initialisation seeded by ``seed``),
    every parameter frozen."""
    from mmpose.registry import MODELS

    model_cfg = copy.deepcopy(cfg.model)
    if checkpoint is not None and 'init_cfg' in model_cfg.backbone:
        model_cfg.backbone.pop('init_cfg')  # all backbone weights come from the checkpoint
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    if checkpoint is None:
        _init_quietly(model)
    else:  # before reading any data: a bad file fails fast
        load_backbone_weights(model.backbone, checkpoint)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _probe_datasets(cfg: Any) -> tuple[Any, Any]:
    """(training split with the deterministic test pipeline and all labels, evaluation split)."""
    from mmpose.registry import DATASETS

    test_ds = copy.deepcopy(cfg.test_dataloader.dataset)
    train_ds = copy.deepcopy(cfg.train_dataloader.dataset)
    train_ds.update(pipeline=copy.deepcopy(test_ds.pipeline), label_fraction=1.0, val_ratio=0.0, test_mode=True)
    return DATASETS.build(train_ds), DATASETS.build(test_ds)


def _hold_out(groups: np.ndarray, val_fraction: float, rng: np.random.Generator, field: str) -> np.ndarray:
    """(N,) bool: the images of a random ``val_fraction`` of the groups (samples), at least one group on
    each side."""
    unique = np.unique(groups)
    if len(unique) < 2:
        raise ValueError(f'{field}: the training images hold {len(unique)} sample(s); at least 2 are '
                         'needed to hold some out for choosing the readout\'s parameter')
    n_out = min(max(1, int(round(val_fraction * len(unique)))), len(unique) - 1)
    return np.isin(groups, rng.choice(unique, n_out, replace=False))


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
    start = time.perf_counter()
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f'val_fraction: must be in (0, 1), got {val_fraction}')
    cfg = _probe_config(cfg)
    model = _frozen_model(cfg, checkpoint, seed)
    train_set, test_set = _probe_datasets(cfg)

    rng = np.random.default_rng(seed)
    train_idx = _subset(len(train_set), num_train, rng, 'num_train')
    eval_idx = _subset(len(test_set), num_eval, rng, 'num_eval')
    # hold out whole samples (all image versions of a sample on the same side) to choose lambda
    sample_ids = np.array([train_set.get_data_info(int(i))['sample_id'] for i in train_idx])
    held = _hold_out(sample_ids, val_fraction, rng, 'num_train')

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


# --- the geometry probe ------------------------------------------------------------------------------------

# k-NN neighbourhood sizes tried by default (those larger than the fitting part are skipped).
DEFAULT_KS = (1, 2, 4, 8, 16, 32, 64)
# Wrist -> middle-finger MCP (FreiHAND joint order): the hand's in-plane orientation.
ORIENTATION_JOINTS = (0, 9)
# Names of the feature sets :func:`probe_backbones` reads (the spatial one is formatted with stage and grid).
POOLED, SPATIAL, PROJECTION = 'pooled last stage', 'stage {stage} {grid}x{grid}', 'projection z'


def hand_orientation(uv: np.ndarray, joints: tuple[int, int] = ORIENTATION_JOINTS) -> np.ndarray:
    """(N, K, 2) image keypoints -> (N,) angle (radians, ``atan2(dv, du)`` in image axes, v down) of the
    ``joints[0] -> joints[1]`` direction."""
    uv = np.asarray(uv, np.float64)
    d = uv[:, joints[1], :2] - uv[:, joints[0], :2]
    return np.arctan2(d[:, 1], d[:, 0])


def angle_error_deg(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Absolute difference of angles given in radians, in degrees wrapped to [0, 180]."""
    d = np.degrees(np.asarray(pred, np.float64) - np.asarray(target, np.float64))
    return np.abs((d + 180.0) % 360.0 - 180.0)


def orientation_error(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean angle error (degrees, each in [0, 180]) of (N, 2) ``(cos, sin)`` rows, each angle read with
    ``atan2`` (the vectors need not have unit length). Chance level, for unrelated angles, is 90."""
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    return float(angle_error_deg(np.arctan2(pred[:, 1], pred[:, 0]),
                                 np.arctan2(target[:, 1], target[:, 0])).mean())


def pa_epe(pred: np.ndarray, target: np.ndarray) -> float:
    """PA-EPE (mm) of (N, K, 3) joints in metres: FreiHAND's similarity alignment of each prediction
    (:func:`~peclr_mm.freihand.scorer.align_w_scale`), then the mean joint distance, as
    :func:`~peclr_mm.freihand.scorer.keypoint_scores` computes it."""
    aligned, _ = align_w_scale(target, pred)
    return float(point_errors(target, aligned).mean() * 1000.0)


def geometry_targets(keypoints_cam: np.ndarray, input_K: np.ndarray, root: int = 0) -> dict[str, np.ndarray]:
    """The geometry probe's targets from camera-frame joints and the network input's intrinsics.

    Args:
        keypoints_cam (np.ndarray): (N, K, 3) joints in metres, camera frame.
        input_K (np.ndarray): (N, 3, 3) intrinsics of the network input (e.g. :func:`extract_features`').
        root (int): the joint the 3-D target is relative to. Defaults to 0 (wrist).

    Returns:
        dict: ``orientation`` (N, 2) ``(cos, sin)`` of :func:`hand_orientation`, ``uv`` (N, K, 2) input
        pixels, ``xyz_rel`` (N, K, 3) root-relative joints in metres.
    """
    xyz = np.asarray(keypoints_cam, np.float64)
    uv = project(xyz, np.asarray(input_K, np.float64))
    angle = hand_orientation(uv)
    return {'orientation': np.stack([np.cos(angle), np.sin(angle)], -1), 'uv': uv,
            'xyz_rel': xyz - xyz[:, root:root + 1]}


class GeometryTarget(NamedTuple):
    """One target of the geometry probe.

    Attributes:
        key (str): its key in :func:`geometry_targets`' dict.
        column (str): the key of its error in a row of :func:`geometry_probe`.
        header (str): its column header in :func:`format_geometry_table`.
        error (Callable): ``error(prediction, target) -> float``, lower is better; also what the readout's
            parameter is chosen by.
    """

    key: str
    column: str
    header: str
    error: Callable[[np.ndarray, np.ndarray], float]


GEOMETRY_TARGETS = (GeometryTarget('orientation', 'orientation_deg', 'orientation (deg)', orientation_error),
                    GeometryTarget('uv', 'uv_px', '2-D keypoints (px)', uv_error),
                    GeometryTarget('xyz_rel', 'pa_epe_mm', 'PA-EPE (mm)', pa_epe))


class KNNModel(NamedTuple):
    """k nearest neighbours by Euclidean distance between features standardised with the training
    statistics; a prediction is the mean of the neighbours' targets (ties: the earlier training image).

    Attributes:
        mean (np.ndarray): (D,) training feature means.
        std (np.ndarray): (D,) training feature standard deviations (1 for constant features).
        X (np.ndarray): (N, D) standardised training features.
        Y (np.ndarray): (N, ...) training targets.
        k (int): the number of neighbours.
    """

    mean: np.ndarray
    std: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    k: int

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(M, D) features -> (M, ...) float64 predictions."""
        return _knn_path(self, X, [self.k])[self.k]


def fit_knn(X: np.ndarray, Y: np.ndarray, k: int) -> KNNModel:
    """k-NN regression on standardised features: (N, D) features, (N, ...) targets, 1 <= k <= N."""
    X, Y = _check_xy(X, Y, 'k-NN')
    if not 1 <= k <= len(X):
        raise ValueError(f'k-NN: k must be in [1, {len(X)}] (the number of training images), got {k}')
    mean, std = _standardisation(X)
    return KNNModel(mean, std, (X - mean) / std, Y, int(k))


def _knn_path(model: KNNModel, X_new: np.ndarray, ks: Sequence[int]) -> dict[int, np.ndarray]:
    """Predictions of ``model``'s neighbours for each k of ``ks`` (its own k unused), from one search."""
    Z = (np.asarray(X_new, np.float64) - model.mean) / model.std
    if Z.ndim != 2 or Z.shape[1] != model.X.shape[1] or not np.isfinite(Z).all():
        raise ValueError(f'k-NN: features must be finite (M, {model.X.shape[1]}), got {Z.shape}')
    if not ks or not all(1 <= k <= len(model.X) for k in ks):
        raise ValueError(f'k-NN: each k must be in [1, {len(model.X)}], got {list(ks)}')
    d2 = (Z * Z).sum(1)[:, None] - 2.0 * Z @ model.X.T + (model.X * model.X).sum(1)[None]
    order = np.argsort(d2, axis=1, kind='stable')[:, :max(ks)]
    Yf = model.Y.reshape(len(model.Y), -1)
    csum = np.cumsum(Yf[order], axis=1)  # (M, max k, T): the sums of the k nearest targets
    return {k: (csum[:, k - 1] / k).reshape((len(Z),) + model.Y.shape[1:]) for k in ks}


def select_knn(X_tr: np.ndarray, Y_tr: np.ndarray, X_val: np.ndarray, Y_val: np.ndarray,
               ks: Sequence[int] = DEFAULT_KS, error: Callable[[np.ndarray, np.ndarray], float] = uv_error
               ) -> tuple[KNNModel, dict[int, float]]:
    """Choose k by ``error`` on held-out *training* data, then refit on all of it (as :func:`select_ridge`).

    Args:
        X_tr (np.ndarray): (N, D) features the candidates are fitted on.
        Y_tr (np.ndarray): (N, ...) targets the candidates are fitted on.
        X_val (np.ndarray): (M, D) held-out features.
        Y_val (np.ndarray): (M, ...) held-out targets.
        ks (Sequence[int]): candidate k; those above N are skipped. Defaults to :data:`DEFAULT_KS`.
        error (Callable): ``error(prediction, target) -> float``. Defaults to :func:`uv_error`.

    Returns:
        tuple: the :class:`KNNModel` on ``X_tr + X_val`` with the chosen k (the smallest held-out error, ties
        to the earlier candidate) and ``{k: held-out error}``.
    """
    X_val, Y_val = _check_xy(X_val, Y_val, 'select_knn (held-out)')
    ks = [int(k) for k in ks if k <= len(X_tr)]
    errors = {k: error(p, Y_val) for k, p in _knn_path(fit_knn(X_tr, Y_tr, 1), X_val, ks).items()}
    best = min(errors, key=errors.get)
    return fit_knn(np.concatenate([np.asarray(X_tr, np.float64), X_val]),
                   np.concatenate([np.asarray(Y_tr, np.float64), Y_val]), best), errors


# Readouts of the geometry probe: name -> the name of the parameter chosen on held-out images.
READOUTS = {'ridge': 'lambda', 'k-NN': 'k'}


def _predictions(readout: str, X_fit: np.ndarray, Y_fit: np.ndarray, X_new: np.ndarray,
                 params: Sequence) -> dict:
    """``{parameter: (M, T) predictions}`` of a readout fitted on (N, D) features and (N, T) targets."""
    if readout == 'ridge':
        return {m.lam: m.predict(X_new) for m in _ridge_path(X_fit, Y_fit, params)}
    if readout == 'k-NN':
        return _knn_path(fit_knn(X_fit, Y_fit, 1), X_new, params)
    raise ValueError(f'readouts: unknown readout {readout!r}; valid: {list(READOUTS)}')


def _flatten(targets: Mapping[str, np.ndarray]) -> np.ndarray:
    """The :data:`GEOMETRY_TARGETS` as one (n, T) matrix, in that order."""
    return np.hstack([targets[t.key].reshape(len(targets[t.key]), -1) for t in GEOMETRY_TARGETS])


def _part(Y: np.ndarray, targets: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    """The columns of target ``key`` in a :func:`_flatten`-ed (n, T) matrix, in that target's shape."""
    start = 0
    for t in GEOMETRY_TARGETS:
        shape = targets[t.key].shape[1:]
        size = int(np.prod(shape))
        if t.key == key:
            return Y[:, start:start + size].reshape((len(Y),) + shape)
        start += size
    raise KeyError(key)


def _fit_and_score(readout: str, params: Sequence, X: np.ndarray, Y: Mapping[str, np.ndarray], fit: np.ndarray,
                   held: np.ndarray, X_eval: np.ndarray, Y_eval: Mapping[str, np.ndarray]
                   ) -> tuple[dict[str, float], dict[str, Any]]:
    """Per target: the parameter with the smallest error on ``held`` when fitted on ``fit``; refitted on
    both, the evaluation error. Returns ``({column: error}, {column: chosen parameter})``."""
    Yf = _flatten(Y)
    if readout == 'k-NN':
        params = [int(k) for k in params if k <= len(fit)]
    val = _predictions(readout, X[fit], Yf[fit], X[held], params)
    chosen = {}
    for t in GEOMETRY_TARGETS:
        errs = [t.error(_part(val[p], Y, t.key), Y[t.key][held]) for p in params]
        chosen[t.column] = params[int(np.argmin(errs))]  # ties: the earlier candidate
    use = np.concatenate([fit, held])
    final = _predictions(readout, X[use], Yf[use], X_eval, sorted(set(chosen.values())))
    errors = {t.column: t.error(_part(final[chosen[t.column]], Y, t.key), Y_eval[t.key])
              for t in GEOMETRY_TARGETS}
    return errors, chosen


def budget_split(groups: np.ndarray, budget: int | None, val_fraction: float = 0.2, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The training images of a label budget, as a fitting part and a held-out part.

    Args:
        groups (np.ndarray): (N,) sample id of each training image; held-out images are whole groups (all
            image versions of a sample on one side).
        budget (int, optional): number of labelled images, a random subset; None: all N.
        val_fraction (float): fraction of the budget's groups held out. Defaults to 0.2.
        seed (int): with ``budget``, seeds the draw: the same split for every backbone. Defaults to 0.

    Returns:
        tuple: sorted indices of the fitting part and of the held-out part.
    """
    groups = np.asarray(groups)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f'val_fraction: must be in (0, 1), got {val_fraction}')
    rng = np.random.default_rng([seed, 0 if budget is None else budget])
    idx = _subset(len(groups), budget, rng, 'budgets')
    held = _hold_out(groups[idx], val_fraction, rng, 'budgets')
    return idx[~held], idx[held]


def _check_sets(features: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray], what: str) -> int:
    """The common number of images of a split's feature sets and targets (one-line errors name the field)."""
    missing = [t.key for t in GEOMETRY_TARGETS if t.key not in targets]
    if missing:
        raise ValueError(f'{what}_targets: missing {missing} (see geometry_targets)')
    n = {len(targets[t.key]) for t in GEOMETRY_TARGETS} | {len(x) for x in features.values()}
    if len(n) != 1:
        raise ValueError(f'{what}_features / {what}_targets: different numbers of images {sorted(n)}')
    return n.pop()


def geometry_probe(train_features: Mapping[str, np.ndarray], train_targets: Mapping[str, np.ndarray],
                   eval_features: Mapping[str, np.ndarray], eval_targets: Mapping[str, np.ndarray],
                   groups: np.ndarray | None = None, budgets: Sequence[int | None] = (200, None),
                   readouts: Sequence[str] = tuple(READOUTS), backbone: str = '', val_fraction: float = 0.2,
                   lambdas: Sequence[float] = DEFAULT_LAMBDAS, ks: Sequence[int] = DEFAULT_KS, seed: int = 0
                   ) -> list[dict[str, Any]]:
    """The geometry probe on given features: every feature set x readout x label budget, each target's
    readout parameter chosen on held-out training images, scored on the evaluation images.

    Args:
        train_features (Mapping[str, np.ndarray]): ``{feature set: (N, D) features}`` of the training images.
        train_targets (Mapping[str, np.ndarray]): :func:`geometry_targets` of the training images.
        eval_features (Mapping[str, np.ndarray]): ``{feature set: (M, D) features}`` (the same sets).
        eval_targets (Mapping[str, np.ndarray]): :func:`geometry_targets` of the evaluation images.
        groups (np.ndarray, optional): (N,) sample id per training image (see :func:`budget_split`); None:
            every image its own sample.
        budgets (Sequence[int | None]): label budgets in images (None: all). Defaults to ``(200, None)``.
        readouts (Sequence[str]): of :data:`READOUTS`. Defaults to ridge and k-NN.
        backbone (str): the ``backbone`` field of the rows.
        val_fraction (float): fraction of each budget's samples held out. Defaults to 0.2.
        lambdas (Sequence[float]): ridge candidates. Defaults to :data:`DEFAULT_LAMBDAS`.
        ks (Sequence[int]): k-NN candidates. Defaults to :data:`DEFAULT_KS`.
        seed (int): seed of the budgets' subsets and held-out parts. Defaults to 0.

    Returns:
        list[dict]: one row per budget, feature set and readout: ``backbone``, ``features``, ``readout``,
        ``budget`` (int or ``'all'``), ``labels`` (training images used), ``dim``, the errors
        ``orientation_deg``, ``uv_px``, ``pa_epe_mm`` (:data:`GEOMETRY_TARGETS`) and ``lambda`` or ``k``
        (``{column: chosen value}``).
    """
    n = _check_sets(train_features, train_targets, 'train')
    _check_sets(eval_features, eval_targets, 'eval')
    if set(train_features) != set(eval_features):
        raise ValueError(f'eval_features: feature sets {sorted(eval_features)} differ from train_features\' '
                         f'{sorted(train_features)}')
    groups = np.arange(n) if groups is None else np.asarray(groups)
    if len(groups) != n:
        raise ValueError(f'groups: {len(groups)} ids for {n} training images')
    unknown = [r for r in readouts if r not in READOUTS]
    if unknown:
        raise ValueError(f'readouts: unknown {unknown}; valid: {list(READOUTS)}')
    checked = {name: (_check_xy(X, train_targets['uv'], f'train_features["{name}"]')[0],
                      _check_xy(eval_features[name], eval_targets['uv'], f'eval_features["{name}"]')[0])
               for name, X in train_features.items()}
    rows = []
    for budget in budgets:
        fit, held = budget_split(groups, budget, val_fraction, seed)
        for name, (X, X_eval) in checked.items():
            for readout in readouts:
                param = READOUTS[readout]
                errors, chosen = _fit_and_score(readout, lambdas if readout == 'ridge' else ks, X, train_targets,
                                                fit, held, X_eval, eval_targets)
                rows.append(dict(backbone=backbone, features=name, readout=readout,
                                 budget='all' if budget is None else int(budget), labels=len(fit) + len(held),
                                 dim=int(X.shape[1]), **errors, **{param: chosen}))
    return rows


def mean_pose_rows(train_targets: Mapping[str, np.ndarray], eval_targets: Mapping[str, np.ndarray],
                   groups: np.ndarray | None = None, budgets: Sequence[int | None] = (200, None),
                   val_fraction: float = 0.2, seed: int = 0) -> list[dict[str, Any]]:
    """The mean-pose baseline of :func:`geometry_probe`: every evaluation image gets the mean target of a
    budget's training images (the same images :func:`geometry_probe` uses; for the orientation, the mean
    ``(cos, sin)`` vector, i.e. the circular mean). Rows as :func:`geometry_probe`'s, backbone ``mean pose``."""
    n = _check_sets({}, train_targets, 'train')
    m = _check_sets({}, eval_targets, 'eval')
    groups = np.arange(n) if groups is None else np.asarray(groups)
    rows = []
    for budget in budgets:
        use = np.concatenate(budget_split(groups, budget, val_fraction, seed))
        errors = {t.column: t.error(np.broadcast_to(train_targets[t.key][use].mean(0),
                                                    (m,) + train_targets[t.key].shape[1:]), eval_targets[t.key])
                  for t in GEOMETRY_TARGETS}
        rows.append(dict(backbone='mean pose', features='', readout='training mean',
                         budget='all' if budget is None else int(budget), labels=len(use), dim=0, **errors))
    return rows


def format_geometry_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of :func:`geometry_probe` / :func:`mean_pose_rows` rows, in the given order (2 decimals).

    Returns:
        str: the table, without a final newline.
    """
    head = ['backbone', 'features', 'readout', 'labels'] + [t.header for t in GEOMETRY_TARGETS]
    lines = ['| ' + ' | '.join(head) + ' |', '|---|---|---|---:' + '|---:' * len(GEOMETRY_TARGETS) + '|']
    for r in rows:
        cells = [r['backbone'], r['features'], r['readout'], str(r['labels'])]
        lines.append('| ' + ' | '.join(cells + [f'{r[t.column]:.2f}' for t in GEOMETRY_TARGETS]) + ' |')
    return '\n'.join(lines)


def _spatial_outputs(cfg: Any, stage: int) -> int:
    """Make the config's backbone return stage ``stage`` and its last stage (``out_indices``, ResNet-style
    stages counted from 0); returns the index of ``stage`` in its output tuple."""
    last = int(cfg.model.backbone.get('num_stages', 4)) - 1
    if not 0 <= stage <= last:
        raise ValueError(f'spatial_stage: must be in [0, {last}] (the backbone\'s stages), got {stage}')
    out = tuple(sorted({stage, last}))
    cfg.model.backbone.out_indices = out
    return out.index(stage)


def probe_backbones(cfg: Any, backbones: Mapping[str, str | None], necks: Mapping[str, nn.Module] | None = None,
                    num_train: int | None = None, num_eval: int | None = None,
                    budgets: Sequence[int | None] = (200, None), spatial_stage: int = 2, grid: int = 4,
                    readouts: Sequence[str] = tuple(READOUTS), val_fraction: float = 0.2, seed: int = 0,
                    batch_size: int = 64, device: str = 'cpu') -> dict[str, Any]:
    """The geometry probe of several backbones of one config on its FreiHAND-style data (the splits of
    :func:`linear_probe`), with the mean-pose rows; every backbone sees the same images (read once
    when they fit in :data:`KEEP_BATCHES_BYTES`) and budgets.

    Feature sets: :data:`POOLED` (the last stage, globally averaged), :data:`SPATIAL` (stage
    ``spatial_stage + 1``, averaged to ``grid x grid`` and flattened) and, for backbones with a neck in
    ``necks``, :data:`PROJECTION` (the neck's output on the last stage).

    Args:
        cfg (mmengine.Config | str): an mmpose top-down config of this project, or its path. Not modified.
        backbones (Mapping[str, str | None]): ``{name: checkpoint with backbone.* weights}``; None: the
            config's random initialisation seeded by ``seed`` (the random-weights baseline).
        necks (Mapping[str, nn.Module], optional): ``{name: projection neck}`` of some backbones.
        num_train (int, optional): random subset of the training images (by ``seed``); None: all.
        num_eval (int, optional): random subset of the evaluation images (by ``seed``); None: all.
        budgets (Sequence[int | None]): label budgets in images (None: all). Defaults to ``(200, None)``.
        spatial_stage (int): the earlier stage, counted from 0. Defaults to 2 (the third).
        grid (int): cells per side of the spatial feature set. Defaults to 4.
        readouts (Sequence[str]): of :data:`READOUTS`. Defaults to ridge and k-NN.
        val_fraction (float): fraction of each budget's samples held out. Defaults to 0.2.
        seed (int): seed of the subsets, the held-out parts and random initialisations. Defaults to 0.
        batch_size (int): feature-extraction batch size. Defaults to 64.
        device (str): where the backbones run. Defaults to ``'cpu'``.

    Returns:
        dict: ``rows`` (:func:`mean_pose_rows`, then :func:`geometry_probe`'s per backbone),
        ``num_train``, ``num_eval``, ``seconds`` (wall time).
    """
    start = time.perf_counter()
    if not backbones:
        raise ValueError('backbones: nothing to probe')
    cfg = _probe_config(cfg)
    spatial = _spatial_outputs(cfg, spatial_stage)
    names = {'features': POOLED, 'spatial': SPATIAL.format(stage=spatial_stage + 1, grid=grid), 'z': PROJECTION}
    train_set, test_set = _probe_datasets(cfg)
    rng = np.random.default_rng(seed)
    train_idx = _subset(len(train_set), num_train, rng, 'num_train')
    eval_idx = _subset(len(test_set), num_eval, rng, 'num_eval')
    groups = np.array([train_set.get_data_info(int(i))['sample_id'] for i in train_idx])
    models = {name: _frozen_model(cfg, ckpt, seed) for name, ckpt in backbones.items()}  # bad files fail first
    w, h = _probe_codec(cfg).input_size
    keep = len(models) > 1 and (len(train_idx) + len(eval_idx)) * 3 * w * h <= KEEP_BATCHES_BYTES
    train_batches = _batches(train_set, train_idx, batch_size, keep)
    eval_batches = _batches(test_set, eval_idx, batch_size, keep)
    rows: list[dict[str, Any]] = []
    kw = dict(budgets=budgets, val_fraction=val_fraction, seed=seed)
    for name, model in models.items():
        extra = dict(spatial=spatial, grid=grid, neck=(necks or {}).get(name))
        tr = extract_features(model, train_batches, device, **extra)
        ev = extract_features(model, eval_batches, device, **extra)
        if not rows:
            y_tr = geometry_targets(tr['keypoints_cam'], tr['input_K'])
            y_ev = geometry_targets(ev['keypoints_cam'], ev['input_K'])
            rows += mean_pose_rows(y_tr, y_ev, groups, **kw)
        rows += geometry_probe({names[k]: tr[k] for k in names if k in tr}, y_tr,
                               {names[k]: ev[k] for k in names if k in ev}, y_ev, groups, readouts=readouts,
                               backbone=name, **kw)
    return dict(rows=_comparison_order(rows, list(names.values()), list(backbones)),
                num_train=int(len(train_idx)), num_eval=int(len(eval_idx)), seconds=time.perf_counter() - start)


def _comparison_order(rows: list[dict], features: list[str], backbones: list[str]) -> list[dict]:
    """Rows grouped by budget (in the given order), then feature set and readout, backbones side by side
    in the given order; each budget's mean pose first."""
    budgets = list(dict.fromkeys(r['budget'] for r in rows))
    readouts = list(READOUTS)

    def key(r: dict) -> tuple:
        if r['backbone'] == 'mean pose':
            return budgets.index(r['budget']), -1, -1, -1
        return (budgets.index(r['budget']), features.index(r['features']), readouts.index(r['readout']),
                backbones.index(r['backbone']))
    return sorted(rows, key=key)
