"""Inference with a 2.5-D hand pose model (:class:`Regression25DHead` configs) on one image, as a function
(:func:`inference_hand25d`); :class:`~peclr_mm.pose.inferencer.Hand25DInferencer` is the same through mmpose's
inferencer API (a hand detector in front, folders and videos, pictures through mmpose's 3-D visualiser).

    >>> from peclr_mm.pose.inference import inference_hand25d, init_hand25d_model
    >>> model = init_hand25d_model('configs/freihand3d/td-reg25d_res50_8xb64-100e_freihand3d-224x224.py',
    ...                            'work_dirs/.../epoch_100.pth', device='cpu')
    >>> hands = inference_hand25d(model, 'hand.jpg', K=(fx, fy, cx, cy), bone_length=0.03)
    >>> hands[0]['keypoints_3d']  # (21, 3) metres, camera frame ('frame' == 'camera')

The model is mmpose's ``init_model`` output (any config whose test pipeline ends with
:class:`TopdownAffine3D` + :class:`PackHand3DInputs` and whose head is a :class:`Regression25DHead`).
:func:`init_hand25d_model` builds it and loads every weight strictly: mmpose's ``init_model`` only warns
when a checkpoint lacks the head (a pretraining checkpoint) or is of another width or depth, and the model
then predicts from random weights.
Each box is cropped like a FreiHAND image (the config's test pipeline: ``GetBBoxCenterScale`` with its
padding, then the affine warp to the input size) and decoded with the camera carried into the crop.

Defaults (see ``docs/inference.md``):

- no ``bbox``: the whole image is one hand box, as FreiHAND's hand-centred 224 x 224 crops;
- no ``K``: the network input gets the intrinsics the official PeCLR release assumes for its 224 px
  crops (:data:`~peclr_mm.pose.transforms.PECLR_DEFAULT_K_224`, scaled to the input size). The absolute
  position of such a virtual camera means nothing in the image, so the 3-D joints are returned
  *root-relative* (wrist at the origin) and ``frame`` is ``'root-relative'``;
- no ``bone_length``: :data:`~peclr_mm.pose.transforms.DEFAULT_HAND_SCALE` (0.031 m), the length of the
  reference bone (joints 9 -> 10). Metric sizes, and with ``K`` the depth, scale with it.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from peclr_mm.checkpoint import CheckpointMismatchError
from peclr_mm.geometry import as_intrinsics
from peclr_mm.pose.inference_inputs import InputError, check_bone_length, check_boxes
from peclr_mm.pose.regression25d_head import Regression25DHead


def load_weights_strict(model: torch.nn.Module, checkpoint: str) -> dict:
    """Load ``checkpoint`` into ``model`` only if it holds exactly the model's weights, with their shapes.

    Args:
        model: the built model.
        checkpoint: a checkpoint file or URL (any mmengine scheme; read weights-only, see
            :mod:`peclr_mm.checkpoint`), an mmengine checkpoint (``state_dict``) or a bare state dict.

    Returns:
        dict: the checkpoint's ``meta`` (empty when it has none).

    Raises:
        CheckpointMismatchError: see :func:`load_state_strict`.
        ValueError: a checkpoint that is not a dict of tensors (:func:`~peclr_mm.checkpoint.state_dict_of`).
    """
    from mmengine.runner import CheckpointLoader
    return load_state_strict(model, CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu'), checkpoint)


def load_state_strict(model: torch.nn.Module, ckpt: object, checkpoint: str) -> dict:
    """Load the read checkpoint ``ckpt`` (of the file ``checkpoint``) into ``model`` strictly.

    Returns:
        dict: the checkpoint's ``meta`` (empty when it has none).

    Raises:
        CheckpointMismatchError: no ``head.*`` weights while the model has a head (a pretraining or an
            exported-backbone checkpoint), a size mismatch, or keys missing from the checkpoint or absent
            from the model (another depth or head): one line naming the checkpoint and the first key.
        ValueError: a checkpoint that is not a dict of tensors (:func:`~peclr_mm.checkpoint.state_dict_of`).
    """
    from peclr_mm.checkpoint import state_dict_of
    if not isinstance(ckpt, dict):
        raise CheckpointMismatchError(f'{checkpoint}: expected a dict checkpoint (state_dict), got '
                                      f'{type(ckpt).__name__}')
    weights = state_dict_of(ckpt, checkpoint)
    own = model.state_dict()
    config = getattr(getattr(model, 'cfg', None), 'filename', None) or 'the config'
    if any(k.startswith('head.') for k in own) and not any(k.startswith('head.') for k in weights):
        groups = ', '.join(sorted({k.split('.', 1)[0] + '.' for k in weights}))
        raise CheckpointMismatchError(f'{checkpoint}: no head weights (keys under {groups}): a '
                                      'pretraining checkpoint? export its backbone (tools/export_backbone.py) '
                                      'and fine-tune it first')
    shapes = [(k, tuple(weights[k].shape), tuple(v.shape)) for k, v in own.items()
              if k in weights and weights[k].shape != v.shape]
    if shapes:
        key, theirs, ours = shapes[0]
        more = f' (and {len(shapes) - 1} more weights)' if len(shapes) > 1 else ''
        raise CheckpointMismatchError(f'{checkpoint}: size mismatch for {key}: checkpoint {theirs} vs model '
                                      f'{ours}{more}: trained with another width or depth than {config}?')
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    if missing or unexpected:
        parts = [f'{len(missing)} model weight(s) missing (e.g. {missing[0]})'] if missing else []
        if unexpected:
            parts.append(f'{len(unexpected)} weight(s) not in the model (e.g. {unexpected[0]})')
        raise CheckpointMismatchError(f'{checkpoint}: {" and ".join(parts)}: trained with another depth or '
                                      f'head than {config}?')
    model.load_state_dict(weights, strict=True)
    meta = ckpt.get('meta')
    return meta if isinstance(meta, dict) else {}


def no_3d_joints(config: str, head: str) -> str:
    """The one-line refusal of a config whose head gives no 3-D joints."""
    return (f'{config}: head {head} gives no 3-D joints; 3-D inference needs a 2.5-D config '
            '(Regression25DHead, configs/freihand3d/td-reg25d_*)')


def init_hand25d_model(config: str | os.PathLike, checkpoint: str | None, device: str = 'cpu',
                       cfg_options: dict | None = None) -> torch.nn.Module:
    """mmpose's ``init_model`` with :func:`load_weights_strict`: a checkpoint that does not fit the config
    is an error, never a model with random weights.

    Args:
        config: the model's config file.
        checkpoint: its fine-tuned checkpoint; None: random weights (tests, smoke runs).
        device: torch device.
        cfg_options: config overrides, as ``init_model``'s.

    Returns:
        The model in eval mode on ``device``; ``dataset_meta`` from the checkpoint when it holds one, else
        from the config (as ``init_model``).

    Raises:
        InputError: a config whose head is not a :class:`Regression25DHead` (one line).
        CheckpointMismatchError: see :func:`load_weights_strict`.
    """
    from mmpose.apis import init_model
    model = init_model(str(config), None, device='cpu', cfg_options=cfg_options)
    if not isinstance(getattr(model, 'head', None), Regression25DHead):
        raise InputError(no_3d_joints(str(config), type(getattr(model, 'head', None)).__name__))
    if checkpoint is not None:
        meta = load_weights_strict(model, checkpoint)
        if meta.get('dataset_meta'):
            model.dataset_meta = meta['dataset_meta']
    return model.to(device).eval()


def _load_image(img: str | os.PathLike | np.ndarray) -> tuple[np.ndarray, str | None]:
    """(H, W, 3) BGR uint8 image and its path (None for an array)."""
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
            raise ValueError(f'image array must be (H, W, 3) BGR, got shape {img.shape}')
        return img, None
    import mmcv
    path = os.fspath(img)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: image file not found')
    arr = mmcv.imread(path, flag='color')
    if arr is None:
        raise ValueError(f'{path}: not a readable image')
    return arr, path


def _boxes(bbox: Sequence | np.ndarray | None, shape: tuple) -> np.ndarray:
    """(N, 4) xyxy boxes (float32); None: the whole image."""
    if bbox is None:
        h, w = shape[:2]
        return np.array([[0, 0, w, h]], np.float32)
    boxes = check_boxes(bbox, 'bbox')
    if len(boxes) == 0:
        raise InputError('bbox: no box given')
    return boxes.astype(np.float32)


def inference_hand25d(model: torch.nn.Module, img: str | os.PathLike | np.ndarray,
                      bbox: Sequence | np.ndarray | None = None, K: Sequence | np.ndarray | None = None,
                      bone_length: float | None = None) -> List[Dict]:
    """2-D and 3-D hand joints of every box of one image.

    Args:
        model: a top-down pose estimator with a :class:`Regression25DHead` (:func:`init_hand25d_model`).
        img: image file, or (H, W, 3) BGR uint8 array (as ``mmcv.imread``).
        bbox: one ``(x1, y1, x2, y2)`` box or (N, 4) boxes in image pixels; None: the whole image.
        K: the image's intrinsics, 3 x 3 or ``(fx, fy, cx, cy)`` in pixels; None: PeCLR's default K on
            the network input and root-relative 3-D output.
        bone_length: length of the reference bone (middle-finger MCP -> PIP, FreiHAND's ``scale``) in
            metres; None: ``DEFAULT_HAND_SCALE``.

    Returns:
        list[dict]: per box, ``bbox`` (4,) xyxy; ``bbox_score`` (the detector's, else 1); ``keypoints``
        (21, 2) image pixels; ``keypoint_scores`` (21,); ``keypoints_3d`` (21, 3) metres, in the camera frame (x right, y down, z forward) when
        ``frame == 'camera'`` or relative to the root joint (wrist) when ``frame == 'root-relative'``;
        ``root_index``; ``K`` (3, 3) the intrinsics used for the image, or None when defaulted;
        ``bone_length`` (metres) and ``bone_length_default`` (bool).
    """
    head = getattr(model, 'head', None)
    if not isinstance(head, Regression25DHead):
        raise TypeError(f'inference_hand25d needs a model with a Regression25DHead, got '
                        f'{type(head).__name__}; use mmpose.apis.inference_topdown for 2-D models')
    image, path = _load_image(img)
    boxes = _boxes(bbox, image.shape)
    camera = camera_fields(K, bone_length)

    scope = model.cfg.get('default_scope', 'mmpose')
    if scope is not None:
        init_default_scope(scope)
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    data_list = []
    for box in boxes:
        info = dict(img=image, img_path=path, bbox=box[None], bbox_score=np.ones(1, np.float32), **camera)
        info.update(model.dataset_meta or {})
        data_list.append(pipeline(info))
    with torch.no_grad():
        samples = model.test_step(pseudo_collate(data_list))

    return [hand_record(sample, head.root_index) for sample in samples]


def camera_fields(K: Sequence | np.ndarray | None, bone_length: float | None) -> Dict:
    """The fields :class:`TopdownAffine3D` reads for one hand, those given: ``K`` (1, 3, 3) from a 3 x 3
    matrix or ``(fx, fy, cx, cy)``, ``hand_scale`` (1,) the reference-bone length in metres."""
    fields = {}
    if K is not None:
        fields['K'] = as_intrinsics(K)[None]
    if check_bone_length(bone_length) is not None:
        fields['hand_scale'] = np.array([bone_length], np.float64)
    return fields


def hand_record(sample, root_index: int) -> Dict:
    """One hand of a :class:`Regression25DHead` prediction (a data sample of ``model.test_step`` whose
    input went through :class:`TopdownAffine3D` and :class:`PackHand3DInputs`), as
    :func:`inference_hand25d` returns it: with the default camera (no ``K`` given) the 3-D joints are made
    root-relative and ``K`` is None."""
    pred, gt = sample.pred_instances, sample.gt_instances
    xyz = np.asarray(pred.keypoints_cam[0], np.float64)
    default_K = bool(sample.metainfo.get('K_is_default', False))
    if default_K:
        xyz = xyz - xyz[root_index]
    return dict(
        bbox=np.asarray(gt.bboxes[0], np.float64),
        bbox_score=float(np.asarray(gt.bbox_scores).reshape(-1)[0]) if 'bbox_scores' in gt else 1.0,
        keypoints=np.asarray(pred.keypoints[0], np.float64),
        keypoint_scores=np.asarray(pred.keypoint_scores[0], np.float64),
        keypoints_3d=xyz,
        frame='root-relative' if default_K else 'camera',
        root_index=root_index,
        K=None if default_K else np.asarray(gt.K[0], np.float64),
        bone_length=float(np.asarray(gt.hand_scale).reshape(-1)[0]),
        bone_length_default=bool(sample.metainfo.get('hand_scale_is_default', False)))


def hands_to_json(hands: List[Dict]) -> List[Dict]:
    """The result of :func:`inference_hand25d` with arrays as (nested) lists, for ``json.dump``."""
    return [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in h.items()} for h in hands]
