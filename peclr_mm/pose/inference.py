"""Inference with a 2.5-D hand pose model (:class:`Regression25DHead` configs): one image
(:func:`inference_hand25d`), or every image of a file, folder or video written as pictures and JSON
(:func:`infer_to_folder`, the core of ``tools/infer.py``).

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
from pathlib import Path
from typing import Dict, Iterator, List, Sequence

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from peclr_mm.checkpoint import CheckpointMismatchError
from peclr_mm.geometry import SKELETON, as_intrinsics
from peclr_mm.inference_inputs import OUTPUT_SUFFIXES, InputError, check_outputs, intrinsics_for, open_inputs
from peclr_mm.pose.regression25d_head import Regression25DHead

FINGER_COLORS = ('#ff8000', '#ff99ff', '#66b2ff', '#ff3333', '#00c000')  # thumb .. little, as mmpose's


def load_weights_strict(model: torch.nn.Module, checkpoint: str) -> dict:
    """Load ``checkpoint`` into ``model`` only if it holds exactly the model's weights, with their shapes.

    Args:
        model: the built model.
        checkpoint: a checkpoint file or URL (any mmengine scheme; read weights-only, see
            :mod:`peclr_mm.checkpoint`), an mmengine checkpoint (``state_dict``) or a bare state dict.

    Returns:
        dict: the checkpoint's ``meta`` (empty when it has none).

    Raises:
        CheckpointMismatchError: no ``head.*`` weights while the model has a head (a pretraining or an
            exported-backbone checkpoint), a size mismatch, or keys missing from the checkpoint or absent
            from the model (another depth or head): one line naming the checkpoint and the first key.
        ValueError: a checkpoint that is not a dict of tensors (:func:`~peclr_mm.checkpoint.state_dict_of`).
    """
    from mmengine.runner import CheckpointLoader

    from peclr_mm.checkpoint import state_dict_of
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
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
        raise InputError(f'{config}: head {type(getattr(model, "head", None)).__name__} gives no 3-D joints; '
                         'tools/infer.py needs a 2.5-D config (Regression25DHead, configs/freihand3d/td-reg25d_*)')
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
    boxes = np.asarray(bbox, np.float64).reshape(-1, 4)
    bad = ~(np.isfinite(boxes).all(1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))
    if len(boxes) == 0 or bad.any():
        raise ValueError(f'bbox must be (x1, y1, x2, y2) with x2 > x1 and y2 > y1, got {boxes.tolist()}')
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
        list[dict]: per box, ``bbox`` (4,) xyxy; ``keypoints`` (21, 2) image pixels; ``keypoint_scores``
        (21,); ``keypoints_3d`` (21, 3) metres, in the camera frame (x right, y down, z forward) when
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
    K = None if K is None else as_intrinsics(K)
    if bone_length is not None and not (np.isfinite(bone_length) and bone_length > 0):
        raise ValueError(f'bone_length must be a positive length in metres, got {bone_length}')

    scope = model.cfg.get('default_scope', 'mmpose')
    if scope is not None:
        init_default_scope(scope)
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    data_list = []
    for box in boxes:
        info = dict(img=image, img_path=path, bbox=box[None], bbox_score=np.ones(1, np.float32))
        if K is not None:
            info['K'] = K[None]
        if bone_length is not None:
            info['hand_scale'] = np.array([bone_length], np.float64)
        info.update(model.dataset_meta or {})
        data_list.append(pipeline(info))
    with torch.no_grad():
        samples = model.test_step(pseudo_collate(data_list))

    root = head.root_index
    hands = []
    for box, sample in zip(boxes, samples):
        pred = sample.pred_instances
        xyz = np.asarray(pred.keypoints_cam[0], np.float64)
        default_K = bool(sample.metainfo.get('K_is_default', K is None))
        if default_K:
            xyz = xyz - xyz[root]
        hands.append(dict(
            bbox=box.astype(np.float64),
            keypoints=np.asarray(pred.keypoints[0], np.float64),
            keypoint_scores=np.asarray(pred.keypoint_scores[0], np.float64),
            keypoints_3d=xyz,
            frame='root-relative' if default_K else 'camera',
            root_index=root,
            K=None if default_K else K,
            bone_length=float(np.asarray(sample.gt_instances.hand_scale).reshape(-1)[0]),
            bone_length_default=bool(sample.metainfo.get('hand_scale_is_default', bone_length is None))))
    return hands


def hands_to_json(hands: List[Dict]) -> List[Dict]:
    """The result of :func:`inference_hand25d` with arrays as (nested) lists, for ``json.dump``."""
    return [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in h.items()} for h in hands]


def _skeleton_3d(ax, xyz: np.ndarray, title: str, elev: float, azim: float) -> None:
    """Camera-frame joints in a matplotlib 3-D axis: plotted as (x, z, -y) so that image-up is up."""
    p = np.stack([xyz[:, 0], xyz[:, 2], -xyz[:, 1]], axis=1)
    for i, (a, b) in enumerate(SKELETON):
        ax.plot(*p[[a, b]].T, color=FINGER_COLORS[i // 4], lw=2)
    ax.scatter(*p.T, s=8, c='k', depthshade=False)
    centre, half = (p.max(0) + p.min(0)) / 2, max((p.max(0) - p.min(0)).max() / 2, 1e-3) * 1.1
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel('x (m)', fontsize=7, labelpad=-2)
    ax.set_ylabel('z (m)', fontsize=7, labelpad=-2)
    ax.set_zlabel('-y (m)', fontsize=7, labelpad=-2)
    ax.tick_params(labelsize=6, pad=-2)
    if elev == 0 and azim == -90:  # looking along the depth axis: its ticks would pile up
        ax.set_yticks([])
        ax.set_ylabel('')
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(title, fontsize=9)


def draw_hand25d(image: np.ndarray, hands: List[Dict], title: str | None = None):
    """A matplotlib figure: per hand, the image with the 2-D skeleton and box, and the 3-D skeleton seen
    from the camera and from the side (FreiHAND's 21 joints, coloured by finger).

    Args:
        image: (H, W, 3) BGR uint8 image.
        hands: :func:`inference_hand25d` output.
        title: optional figure title.
    """
    import matplotlib
    if matplotlib.get_backend().lower() not in ('agg', 'pdf', 'svg', 'ps', 'cairo'):
        matplotlib.use('Agg')  # files only, never a window
    import matplotlib.pyplot as plt

    rows = max(len(hands), 1)
    fig = plt.figure(figsize=(11, 3.7 * rows))
    rgb = image[..., ::-1]
    for r, hand in enumerate(hands or [None]):
        ax = fig.add_subplot(rows, 3, 3 * r + 1)
        ax.imshow(rgb)
        ax.set_axis_off()
        if hand is None:
            ax.set_title('no hand', fontsize=9)
            continue
        uv = hand['keypoints']
        for i, (a, b) in enumerate(SKELETON):
            ax.plot(*uv[[a, b]].T, color=FINGER_COLORS[i // 4], lw=2)
        ax.scatter(*uv.T, s=8, c='k', zorder=3)
        x1, y1, x2, y2 = hand['bbox']
        ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec='w', lw=1, ls='--'))
        ax.set_title(f'hand {r}: 2-D (image px)', fontsize=9)
        frame = hand['frame']
        note = f"{frame}, bone {hand['bone_length'] * 100:.1f} cm"
        if hand['bone_length_default']:
            note += ' (default)'
        _skeleton_3d(fig.add_subplot(rows, 3, 3 * r + 2, projection='3d'), hand['keypoints_3d'],
                     f'3-D, camera view\n{note}', elev=0, azim=-90)
        _skeleton_3d(fig.add_subplot(rows, 3, 3 * r + 3, projection='3d'), hand['keypoints_3d'],
                     '3-D, side view', elev=15, azim=-10)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    from peclr_mm.fileio import atomic_write
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format='png', dpi=dpi), binary=True)
    finally:
        plt.close(fig)


def infer_to_folder(model: torch.nn.Module, source: str | os.PathLike, out: str | os.PathLike,
                    K: np.ndarray | Dict[str, np.ndarray] | None = None,
                    bbox: Sequence | np.ndarray | None = None, bone_length: float | None = None,
                    every: int = 1, config: str | None = None, checkpoint: str | None = None,
                    inputs: Iterator | None = None, overwrite: bool = False) -> int:
    """:func:`inference_hand25d` on every image of a file, folder or video; a picture and a JSON per image.

    For each image, ``out/<name>.png`` (:func:`draw_hand25d`) and ``out/<name>.json`` are written
    atomically, ``<name>`` being the image's full file name (``hand.jpg`` -> ``hand.jpg.png``,
    ``hand.jpg.json``; frame ``i`` of ``clip.mp4`` -> ``clip.mp4_<i:06d>.png``), so that two inputs never
    share an output. ``out`` may not be, or contain, the input's folder, nor (for a folder input) lie
    inside it; an output file that already exists is replaced only with ``overwrite``
    (:func:`~peclr_mm.inference_inputs.check_outputs`). The JSON holds ``image`` (its path, or the
    video's), ``frame_index`` (video frames, else None), ``config``, ``checkpoint``, ``units``,
    ``joint_names`` (the model's ``keypoint_id2name``) and ``hands`` (:func:`hands_to_json`).

    Args:
        model: a top-down pose estimator with a :class:`Regression25DHead` (:func:`init_hand25d_model`).
        source: an image, a folder of images or a video (see
            :func:`~peclr_mm.inference_inputs.iter_inputs`).
        out: output folder (created), outside the input's folder.
        K: None (PeCLR's default camera, root-relative joints), one 3 x 3 / ``(fx, fy, cx, cy)`` for
            every image in pixels, or a mapping from file names to (3, 3) matrices
            (:func:`~peclr_mm.inference_inputs.parse_K`).
        bbox: ``(x1, y1, x2, y2)`` hand box in image pixels for every image; None: the whole image.
        bone_length: reference-bone length in metres; None: the default (0.031).
        every: for a video, process every ``every``-th frame.
        config: the model's config file, recorded in the JSON.
        checkpoint: the model's checkpoint file, recorded in the JSON.
        inputs: :func:`~peclr_mm.inference_inputs.open_inputs` of ``source`` when already opened
            (to report input errors before building the model); None: opened here.
        overwrite: replace output files that exist already; False: refuse before the first image.

    Returns:
        int: the number of images written.

    Raises:
        InputError: a bad source, an unreadable image, no K for a file in a mapping ``K``, an ``out`` at
            the input's place, an existing output file without ``overwrite``.
        ValueError: a bad box or bone length.
    """
    import mmcv

    from peclr_mm.fileio import atomic_write_json
    source, out = Path(source), Path(out)
    if inputs is None:
        inputs = open_inputs(source, every)
    check_outputs(source, out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    names = model.dataset_meta.get('keypoint_id2name') if model.dataset_meta else None
    count = 0
    for out_name, name, frame in inputs:
        img_file = None if frame is not None else (source / name if source.is_dir() else source)
        image = frame if frame is not None else mmcv.imread(str(img_file))
        if image is None:
            raise InputError(f'{img_file}: not a readable image')
        hands = inference_hand25d(model, image, bbox=bbox, K=intrinsics_for(K, name), bone_length=bone_length)
        record = dict(image=str(img_file) if img_file else str(source), frame_index=None,
                      config=config, checkpoint=checkpoint,
                      units=dict(keypoints='image pixels', keypoints_3d='metres', bone_length='metres'),
                      joint_names=[names[i] for i in range(len(names))] if names else None,
                      hands=hands_to_json(hands))
        title = name
        if frame is not None:
            record['frame_index'] = int(out_name.rsplit('_', 1)[1])
            title += f' frame {record["frame_index"]}'
        figure, json_file = (out / f'{out_name}{suffix}' for suffix in OUTPUT_SUFFIXES)
        if not overwrite:  # also a file made by someone else since check_outputs
            for path in (figure, json_file):
                if path.exists():
                    raise InputError(f'{path}: exists (not written by this run); pass overwrite=True '
                                     '(--overwrite) to replace it')
        save_figure(draw_hand25d(image, hands, title=title), figure)
        atomic_write_json(json_file, record)
        count += 1
    return count
