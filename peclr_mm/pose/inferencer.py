"""3-D hand joints through mmpose's inferencer API: :class:`Hand25DInferencer`.

    >>> import peclr_mm.pose  # registers the model parts and this inferencer
    >>> from mmpose.apis import MMPoseInferencer
    >>> inferencer = MMPoseInferencer(pose3d='configs/freihand3d/td-reg25d_res50_8xb64-100e_freihand3d-224x224.py',
    ...                               pose3d_weights='epoch_100.pth', det_model='hand')
    >>> result = next(inferencer('photo.jpg', K=(fx, fy, cx, cy), out_dir='out'))
    >>> result['predictions'][0][0]['keypoints']  # (21, 3) metres, camera frame

``MMPoseInferencer(pose3d=CONFIG)`` builds this inferencer for every config whose head is a
:class:`Regression25DHead` (:func:`peclr_mm.compat.inferencer_routing.route_pose3d_inferencers`, through
:func:`build_3d_inferencer`); ``Hand25DInferencer(CONFIG, ...)`` is the same
without the wrapper. It is mmpose's :class:`Hand3DInferencer` (hand detector, whole-image fallback, image /
folder / video / webcam inputs, video out, progress bar, :class:`Pose3dLocalVisualizer` pictures) with the
outputs of a 2.5-D model: per hand, ``keypoints`` (21, 3) in metres, in the camera frame when the image's
intrinsics ``K`` are given, else root-relative (:func:`~peclr_mm.pose.inference.hand_record`), and
``keypoints_2d`` (21, 2) in image pixels. Weights are loaded strictly
(:func:`~peclr_mm.pose.inference.load_state_strict`): a checkpoint that does not fit the config is one line,
never a model with random weights.

Outputs: ``vis_out_dir/<input file name>`` (mmpose's pictures: the 2-D joints on the image beside the 3-D
joints, seen with image-up up), ``pred_out_dir/<input file name>.json`` (for a video, one file with a record
per frame, and the video of the pictures ``vis_out_dir/<video file name>``, written as it goes); pictures
and JSON files are written under a temporary name and moved into place.
"""
from __future__ import annotations

import inspect
import os
import time
from typing import Dict, List

import numpy as np
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmpose.apis.inferencers import Hand3DInferencer
from mmpose.registry import INFERENCERS
from mmpose.structures import PoseDataSample, merge_data_samples
from mmpose.visualization import Pose3dLocalVisualizer

from peclr_mm.fileio import atomic_write, atomic_write_json
from peclr_mm.pose.inference import camera_fields, hand_record, hands_to_json, load_state_strict, no_3d_joints
from peclr_mm.pose.inference_inputs import InputError, check_boxes, intrinsics_for
from peclr_mm.pose.regression25d_head import Regression25DHead

#: Joints as rows times this: camera frame (x right, y down, z forward) -> the picture's axes (x, z, -y),
#: image-up up (mmpose's Hand3DInferencer turns its joints with the same matrix).
DISPLAY_ROTATION = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64)


def _hand_detector(det_model, det_weights, det_cat_ids):
    """``det_model='hand'``: mmpose's RTMDet-nano hand detector (config and weights of its model zoo); the
    hand class of a detector without ``det_cat_ids``: 0 (mmpose's hand detectors have that one class)."""
    if det_model == 'hand':
        from mmpose.apis.inferencers.utils.default_det_models import default_det_models
        info = default_det_models['hand']
        det_model, det_weights = info['model'], det_weights or info['weights']
    return det_model, det_weights, 0 if det_cat_ids is None else det_cat_ids


def _boxes_with_scores(boxes, where: str) -> np.ndarray:
    """(N, 5) boxes ``x1, y1, x2, y2, score`` from (N, 4) or (N, 5) (:func:`check_boxes`); score 1 where none
    is given."""
    arr = check_boxes(boxes, where, scores=True)
    return arr if arr.shape[1] == 5 else np.concatenate([arr, np.ones((len(arr), 1))], axis=1)


@INFERENCERS.register_module()
class Hand25DInferencer(Hand3DInferencer):
    """mmpose's 3-D hand inferencer for 2.5-D models (:class:`Regression25DHead`, PeCLR's fine-tuning).

    Args:
        model: a 2.5-D pose config (path, :class:`Config` or dict).
        weights: its fine-tuned checkpoint (loaded strictly); None: random weights, with mmpose's warning.
        device: torch device; None: CUDA when available.
        scope: registry scope (``'mmpose'``).
        det_model: hand detector: an mmdet config, ``'hand'`` (mmpose's RTMDet-nano hand detector, its
            weights downloaded from mmpose's model zoo unless ``det_weights`` is given) or None /
            ``'whole_image'``: every image is one hand box (FreiHAND's hand-centred crops).
        det_weights: the detector's checkpoint.
        det_cat_ids: the detector's class ids that are hands; None: 0 (the one class of mmpose's hand
            detectors and of ``configs/hand_det``).
        show_progress: a progress bar over the inputs.

    Call arguments besides mmpose's (``bboxes``, ``bbox_thr``, ``nms_thr``, ``vis_out_dir``,
    ``pred_out_dir``, ``out_dir``, ``return_vis``, ``draw_bbox``, ...):

    - ``K``: the images' intrinsics: one 3 x 3 matrix or ``(fx, fy, cx, cy)`` for every input, a mapping from
      input file names (a video's frames: the video's) to matrices (:func:`~peclr_mm.pose.inference_inputs.parse_K`),
      or None: PeCLR's default camera and root-relative joints;
    - ``bone_length``: the reference bone (joints 9 -> 10) in metres; None: 0.031;
    - ``bboxes``: per input a list of boxes (mmpose's form), or one (N, 4) / (N, 5) array of boxes for every
      input; they replace the detector.
    """

    preprocess_kwargs: set = {'bbox_thr', 'nms_thr', 'bboxes', 'K', 'bone_length'}
    forward_kwargs: set = set()
    postprocess_kwargs: set = {'pred_out_dir', 'return_datasample'}

    def __init__(self, model, weights: str | None = None, device: str | None = None,
                 scope: str | None = 'mmpose', det_model=None, det_weights: str | None = None,
                 det_cat_ids=None, show_progress: bool = False) -> None:
        self._weights_name = weights
        det_model, det_weights, det_cat_ids = _hand_detector(det_model, det_weights, det_cat_ids)
        super().__init__(model, weights, device, scope, det_model, det_weights, det_cat_ids, show_progress)
        self.visualizer.det_kpt_color = self.visualizer.kpt_color
        self.visualizer.det_dataset_skeleton = self.visualizer.skeleton
        self.visualizer.det_dataset_link_color = self.visualizer.link_color

    def _init_visualizer(self, cfg):
        """mmpose's :class:`Pose3dLocalVisualizer` (one 3-D panel per hand), whatever the config's (2-D)
        visualiser."""
        return _HandsVisualizer(name=f'hand25d_inferencer{time.time()}-{id(self)}')

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        """Refuse a config without a 2.5-D head; load ``checkpoint`` strictly."""
        if not isinstance(getattr(model, 'head', None), Regression25DHead):
            raise InputError(no_3d_joints(getattr(cfg, 'filename', None) or 'the config',
                                          type(getattr(model, 'head', None)).__name__))
        if checkpoint is None:
            return super()._load_weights_to_model(model, checkpoint, cfg)
        meta = load_state_strict(model, checkpoint, self._weights_name)
        if meta.get('dataset_meta'):
            model.dataset_meta = meta['dataset_meta']
        else:
            from mmpose.apis.inference import dataset_meta_from_config
            model.dataset_meta = dataset_meta_from_config(cfg, dataset_mode='train')

    def preprocess(self, inputs, batch_size: int = 1, bboxes=None, **kwargs):
        """mmpose's preprocessing; ``bboxes`` may also be one array of boxes for every input."""
        if bboxes is not None and len(bboxes) and _is_one_box_array(bboxes):
            bboxes = _Every(_boxes_with_scores(bboxes, 'bboxes'))
        yield from super().preprocess(inputs, batch_size, bboxes=bboxes, **kwargs)

    def preprocess_single(self, input, index: int, bbox_thr: float = 0.3, nms_thr: float = 0.3,
                          bboxes=(), K=None, bone_length: float | None = None):
        """mmpose's crops of one input, each with the input's camera ``K`` and ``bone_length``."""
        name = os.path.basename(input) if isinstance(input, str) else \
            (self.video_info['name'] if self._video_input else f'{index}')
        extra = camera_fields(intrinsics_for(K, name), bone_length)
        boxes = _boxes_with_scores(bboxes, f'bboxes of input {index}') if len(bboxes) else []
        pipeline = self.pipeline
        self.pipeline = lambda info: pipeline({**info, **extra})
        try:
            return super().preprocess_single(input, index, bbox_thr, nms_thr, boxes)
        finally:
            self.pipeline = pipeline

    def forward(self, inputs) -> List[PoseDataSample]:
        """One merged data sample per image: ``pred_instances.keypoints`` (N, 21, 3) metres (see
        :func:`~peclr_mm.pose.inference.hand_record`), ``keypoints_2d`` (N, 21, 2) image pixels,
        ``keypoint_scores``, ``bboxes``, ``bbox_scores``; ``hands`` in its metainfo: the records."""
        samples = self.model.test_step(inputs)
        root = self.model.head.root_index
        hands = [hand_record(s, root) for s in samples]
        samples_2d = []
        for sample, hand in zip(samples, hands):
            pred = sample.pred_instances
            sample_2d = PoseDataSample(metainfo=sample.metainfo)
            sample_2d.pred_instances = pred.clone()
            samples_2d.append(sample_2d)
            pred.keypoints_2d = pred.keypoints
            pred.keypoints = hand['keypoints_3d'][None]
            pred.bboxes = np.asarray(sample.gt_instances.bboxes)
            pred.bbox_scores = np.asarray(sample.gt_instances.bbox_scores)
        merged = merge_data_samples(samples)
        merged.set_metainfo(dict(hands=hands))
        self._buffer['pose2d_results'] = merge_data_samples(samples_2d)
        return [merged]

    def visualize(self, inputs: list, preds: List[PoseDataSample], **kwargs) -> List[np.ndarray]:
        """mmpose's picture of each image: the 2-D joints on it, beside the 3-D joints in millimetres seen
        with image-up up (:data:`DISPLAY_ROTATION`), each hand centred in its panel."""
        shown = []
        for pred in preds:
            display = pred.clone()  # shallow: the instances are copied before they change
            display.pred_instances = pred.pred_instances.clone()
            kpts = pred.pred_instances.keypoints
            display.pred_instances.keypoints = (kpts - kpts.mean(axis=1, keepdims=True)) @ DISPLAY_ROTATION * 1000
            shown.append(display)
        return super().visualize(inputs, shown, **kwargs)

    def save_visualization(self, visualization, vis_out_dir, img_name=None):
        """mmpose's writing, each image written under a temporary name and moved into place."""
        if self._video_input:
            return super().save_visualization(visualization, vis_out_dir, img_name)
        import cv2
        path = vis_out_dir if os.path.splitext(vis_out_dir)[1] else os.path.join(vis_out_dir, img_name)
        ok, data = cv2.imencode(os.path.splitext(path)[1] or '.png', visualization[..., ::-1])
        if not ok:
            raise InputError(f'{path}: OpenCV cannot write this image format')
        atomic_write(path, lambda f: f.write(data.tobytes()), binary=True)

    def postprocess(self, preds: List[PoseDataSample], visualization, return_datasample=None,
                    return_datasamples: bool = False, pred_out_dir: str = '') -> dict:
        """``predictions``: per image the data sample, or a list of hand records (JSON-ready
        :func:`~peclr_mm.pose.inference.hand_record`, with ``keypoints`` the 3-D joints and
        ``keypoints_2d`` the image joints); written to ``pred_out_dir/<input file name>.json``."""
        records = [self.records(pred) for pred in preds]
        if pred_out_dir:
            for pred, record in zip(preds, records):
                if self._video_input:
                    self.video_info['predictions'].append(record)
                else:
                    name = os.path.basename(pred.metainfo['img_path'])
                    atomic_write_json(os.path.join(pred_out_dir, name + '.json'), record)
        return dict(visualization=visualization,
                    predictions=preds if (return_datasamples or return_datasample) else records)

    @staticmethod
    def records(pred: PoseDataSample) -> List[Dict]:
        """The hands of one image as JSON-ready dicts (arrays as lists)."""
        out = []
        for rec in hands_to_json(pred.metainfo['hands']):
            rec['keypoints_2d'] = rec.pop('keypoints')
            rec['keypoints'] = rec.pop('keypoints_3d')
            rec['units'] = dict(keypoints='metres', keypoints_2d='image pixels', bone_length='metres')
            out.append(rec)
        return out

    def _finalize_video_processing(self, pred_out_dir: str = ''):
        """Close the picture video; write the per-frame records to ``pred_out_dir/<video file name>.json``."""
        if self.video_info['writer'] is not None:
            self.video_info['writer'].release()
            print_log(f'the output video has been saved at {self.video_info["output_file"]}', logger='current')
        if pred_out_dir:
            frames = [dict(frame_id=i, instances=p) for i, p in enumerate(self.video_info['predictions'])]
            atomic_write_json(os.path.join(pred_out_dir, self.video_info['name'] + '.json'), frames)


class _HandsVisualizer(Pose3dLocalVisualizer):
    """:class:`Pose3dLocalVisualizer` drawing the 3-D panels one hand at a time, side by side (mmpose
    1.3.2's own reshapes a figure of several instances to ``num_instances`` times its width and fails),
    each at least :attr:`min_panel` pixels square (mmpose's are as large as the image)."""

    min_panel = 360

    def _draw_3d_data_samples(self, image, pose_samples, draw_gt=True, kpt_thr=0.3, num_instances=-1,
                              scores_2d=None, **kwargs):
        size = max(max(image.shape[:2]), self.min_panel)
        image = np.zeros((size, size, 3), np.uint8)  # mmpose reads only its size
        pred = pose_samples.get('pred_instances')
        count = len(pred) if pred is not None and 'keypoints' in pred else 0
        count = count if num_instances < 0 else min(count, num_instances)
        if count <= 1:
            return super()._draw_3d_data_samples(image, pose_samples, draw_gt=draw_gt, kpt_thr=kpt_thr,
                                                 num_instances=num_instances, scores_2d=scores_2d, **kwargs)
        panels = []
        for i in range(count):
            one = pose_samples.clone()
            one.pred_instances = pred[i:i + 1]
            panels.append(super()._draw_3d_data_samples(
                image, one, draw_gt=draw_gt, kpt_thr=kpt_thr, num_instances=1,
                scores_2d=None if scores_2d is None else scores_2d[i:i + 1], **kwargs))
        return np.concatenate(panels, axis=1)


def _is_one_box_array(bboxes) -> bool:
    """(4,), (N, 4) or (N, 5) numbers: boxes for every input, not mmpose's list of box lists per input."""
    try:
        arr = np.asarray(bboxes, np.float64)
    except (ValueError, TypeError):  # ragged: one list per input
        return False
    return arr.ndim <= 2


class _Every:
    """The same boxes for every input index (mmpose reads ``bboxes[i] if bboxes else []``)."""

    def __init__(self, boxes: np.ndarray):
        self.boxes = boxes

    def __getitem__(self, i):
        return self.boxes

    def __bool__(self):
        return True


def _head_type(model) -> str | None:
    """The head type of a config (path, :class:`Config` or dict); None for anything else."""
    if isinstance(model, str | os.PathLike):
        if not (str(model).endswith('.py') and os.path.isfile(model)):
            return None
        model = Config.fromfile(str(model))
    if isinstance(model, Config | ConfigDict | dict):
        head = ((model.get('model') or {}).get('head') or {}).get('type')
        return head if isinstance(head, str) else getattr(head, '__name__', None)
    return None


def is_hand25d_config(model) -> bool:
    """Whether ``model`` (a config path, :class:`Config` or dict) has a :class:`Regression25DHead`."""
    return _head_type(model) == Regression25DHead.__name__


def check_hand25d_config(config: str) -> None:
    """Refuse, in one line (:class:`InputError`), a config file whose head gives no 3-D joints."""
    head = _head_type(config)
    if head != Regression25DHead.__name__:
        raise InputError(no_3d_joints(config, head or 'none'))


def build_3d_inferencer(upstream, *args, **kwargs):
    """``upstream(*args, **kwargs)`` (one of mmpose's 3-D inferencers, called as ``MMPoseInferencer`` calls
    it), or :class:`Hand25DInferencer` with the same arguments when the config has a
    :class:`Regression25DHead`."""
    bound = inspect.signature(upstream).bind(*args, **kwargs).arguments
    if not is_hand25d_config(bound.get('model')):
        return upstream(*args, **kwargs)
    own = inspect.signature(Hand25DInferencer).parameters
    return Hand25DInferencer(**{k: v for k, v in bound.items() if k in own})

