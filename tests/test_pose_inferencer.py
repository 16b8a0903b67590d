"""3-D hand pose through mmpose's inferencer: ``MMPoseInferencer(pose3d=...)`` builds
:class:`Hand25DInferencer` for 2.5-D configs, whose joints equal the functional API's; hands found by a
detector (mmpose's RTMDet-nano hand config with random weights; a detector with known boxes), given boxes,
several hands, video in and out, and one-line refusals."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import peclr_mm.pose  # noqa: F401  (registers the modules and the inferencer routing)
from peclr_mm.pose import Hand25DInferencer, inference_hand25d
from peclr_mm.pose.inference import CheckpointMismatchError, init_hand25d_model
from peclr_mm.pose.inference_inputs import InputError

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / 'configs' / 'freihand3d' / 'td-reg25d_res18_1xb8-1e_freihand3d-64x64.py'
HEATMAP = ROOT / 'configs' / 'freihand3d' / 'td-hm_res50-peclr_8xb64-100e_freihand3d-224x224.py'
HAND = (150, 60, 214, 124)  # where the 64 px hand is pasted into the 300 x 200 photo


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return init_hand25d_model(TINY, None)


@pytest.fixture(scope='module')
def checkpoint(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=model.dataset_meta)), path)
    return path


@pytest.fixture(scope='module')
def photo() -> np.ndarray:
    """A 300 x 200 BGR photo with a synthetic 64 px hand pasted off-centre at :data:`HAND`."""
    from peclr_lab.synthetic import render_sample
    image = np.full((200, 300, 3), 90, np.uint8)
    x1, y1, x2, y2 = HAND
    image[y1:y2, x1:x2] = render_sample(0, 'evaluation', 0, size=64).images[0]
    return image


@pytest.fixture(scope='module')
def inferencer(checkpoint) -> Hand25DInferencer:
    return Hand25DInferencer(str(TINY), str(checkpoint), device='cpu')


def test_mmpose_inferencer_pose3d_builds_ours_and_saves_camera_frame_joints(checkpoint, model, photo, tmp_path):
    """The issue's call: ``MMPoseInferencer(pose3d=CONFIG)``; a path without ``hand3d`` too (mmpose sends it to
    its lifting inferencer). The returned and saved ``keypoints`` are the camera-frame joints of
    ``inference_hand25d`` (metres) for the given K and box."""
    from mmpose.apis import MMPoseInferencer
    plain = tmp_path / 'my_model.py'
    plain.write_text(f'_base_ = [{str(TINY)!r}]\n')
    K = np.array([[300.0, 0, 150], [0, 300, 100], [0, 0, 1]])
    expected = inference_hand25d(model, photo, bbox=HAND, K=K, bone_length=0.03)[0]
    for config in (TINY, plain):
        mm = MMPoseInferencer(pose3d=str(config), pose3d_weights=str(checkpoint), device='cpu')
        assert type(mm.inferencer) is Hand25DInferencer
        out = next(mm(photo, bboxes=[HAND], K=K, bone_length=0.03, out_dir=str(tmp_path / config.stem)))
        (hand,) = out['predictions'][0]
        np.testing.assert_allclose(hand['keypoints'], expected['keypoints_3d'], rtol=0, atol=1e-5)
        saved = json.loads((tmp_path / config.stem / 'predictions' / '000000.json').read_text())
        np.testing.assert_allclose(saved[0]['keypoints'], expected['keypoints_3d'], rtol=0, atol=1e-5)
        assert (tmp_path / config.stem / 'visualizations' / '000000.jpg').is_file()
    assert expected['frame'] == 'camera' and np.all(expected['keypoints_3d'][:, 2] > 0)


def test_records_without_K_are_root_relative_and_name_their_units(inferencer, model, photo):
    out = next(inferencer(photo, bboxes=[HAND]))
    (rec,) = out['predictions'][0]
    expected = inference_hand25d(model, photo, bbox=HAND)[0]
    assert rec['frame'] == 'root-relative' and rec['K'] is None and rec['bone_length_default']
    np.testing.assert_allclose(rec['keypoints'], expected['keypoints_3d'], atol=1e-6)
    np.testing.assert_allclose(rec['keypoints_2d'], expected['keypoints'], atol=1e-4)
    np.testing.assert_allclose(rec['keypoints'][0], [0, 0, 0], atol=1e-12)  # the wrist is the origin
    assert rec['bbox'] == list(map(float, HAND))
    assert rec['units'] == dict(keypoints='metres', keypoints_2d='image pixels', bone_length='metres')


def test_boxes_for_every_input_and_several_hands(inferencer, photo, tmp_path):
    """One (N, 4) array for every input, mmpose's per-input lists, and the picture with a 3-D panel per hand."""
    two = [HAND, (0, 0, 100, 100)]
    out = next(inferencer([photo, photo], bboxes=np.array(two), return_vis=True, num_instances=-1))
    assert [r['bbox'] for r in out['predictions'][0]] == [list(map(float, b)) for b in two]
    panel = inferencer.visualizer.min_panel  # two 3-D panels; the 2-D one padded to their width and height
    assert out['visualization'][0].shape == (panel, 2 * 2 * panel, 3)
    per_input = list(inferencer([photo, photo], bboxes=[[HAND], two]))
    assert [len(r['predictions'][0]) for r in per_input] == [1, 2]
    with pytest.raises(InputError, match=r'bboxes: boxes must be \(x1, y1, x2, y2\[, score\]\) with x2 > x1'):
        next(inferencer(photo, bboxes=[(10, 10, 5, 20)]))


def test_whole_image_without_boxes_and_a_random_weight_detector(checkpoint, photo):
    """mmpose's RTMDet-nano hand config with random weights: it is built and run; finding no hand, the whole
    image is the hand box (mmpose's fallback), as without any detector."""
    from mmdet.apis import DetInferencer
    from mmpose.apis.inferencers.utils.default_det_models import default_det_models
    plain = Hand25DInferencer(str(TINY), str(checkpoint), device='cpu')
    assert plain.detector is None
    assert next(plain(photo))['predictions'][0][0]['bbox'] == [0.0, 0.0, 300.0, 200.0]
    torch.manual_seed(0)
    det = Hand25DInferencer(str(TINY), str(checkpoint), device='cpu',
                            det_model=default_det_models['hand']['model'])  # hand class 0 by default
    assert isinstance(det.detector, DetInferencer) and det.det_cat_ids == (0,)
    raw = det.detector(photo, return_datasamples=True)['predictions'][0].pred_instances
    assert len(raw) == 0 or raw.scores.max() < 0.3
    assert next(det(photo))['predictions'][0][0]['bbox'] == [0.0, 0.0, 300.0, 200.0]


class _KnownBoxes:
    """A detector answering every image with fixed boxes, labels and scores (mmdet's prediction layout)."""

    def __init__(self, boxes, labels, scores):
        self.instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                      labels=torch.tensor(labels), scores=torch.tensor(scores))

    def __call__(self, inputs, return_datasamples=True):
        from mmdet.structures import DetDataSample
        sample = DetDataSample()
        sample.pred_instances = self.instances.clone()
        return dict(predictions=[sample])


def test_detector_boxes_become_the_hand_crops(inferencer, model, photo):
    """mmpose's detector stage in front of the 2.5-D model: the hand class above the threshold is kept
    (another class, a low score and an overlapping duplicate are not), and each kept box is cropped as if
    given by hand."""
    inferencer.detector = _KnownBoxes([HAND, (10, 10, 90, 90), (20, 20, 80, 80), (151, 61, 214, 124)],
                                      labels=[0, 1, 0, 0], scores=[0.9, 0.95, 0.1, 0.8])
    inferencer.det_cat_ids = (0,)
    try:
        (rec,) = next(inferencer(photo))['predictions'][0]
    finally:
        inferencer.detector = None
    assert rec['bbox'] == list(map(float, HAND)) and rec['bbox_score'] == pytest.approx(0.9)
    np.testing.assert_allclose(rec['keypoints'], inference_hand25d(model, photo, bbox=HAND)[0]['keypoints_3d'],
                               atol=1e-6)


def test_video_in_video_out_and_records_per_frame(inferencer, photo, tmp_path):
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 5, (300, 200))
    for _ in range(3):
        writer.write(photo)
    writer.release()
    results = list(inferencer(str(video), bboxes=np.array([HAND]), K=(300, 300, 150, 100), out_dir=str(tmp_path / 'o')))
    assert len(results) == 3
    frames = json.loads((tmp_path / 'o' / 'predictions' / 'clip.avi.json').read_text())
    assert [f['frame_id'] for f in frames] == [0, 1, 2] and frames[2]['instances'][0]['frame'] == 'camera'
    cap = cv2.VideoCapture(str(tmp_path / 'o' / 'visualizations' / 'clip.avi'))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert count == 3


def test_refusals_are_one_line(checkpoint, tmp_path):
    """A heatmap config, and a checkpoint of another depth, each a one-line error naming the file."""
    with pytest.raises(InputError, match='head HeatmapHead gives no 3-D joints') as err:
        Hand25DInferencer(str(HEATMAP), None, device='cpu')
    assert '\n' not in str(err.value)
    deeper = init_hand25d_model(TINY, None, cfg_options={'model.backbone.depth': 34})
    path = tmp_path / 'depth34.pth'
    torch.save(dict(state_dict=deeper.state_dict()), path)
    with pytest.raises(CheckpointMismatchError,
                       match=r'depth34.pth: 96 weight\(s\) not in the model \(e.g. backbone.layer1.2') as err:
        Hand25DInferencer(str(TINY), str(path), device='cpu')
    assert '\n' not in str(err.value)


def test_routing_needs_no_import_of_ours(tmp_path):
    """A user script that imports only mmpose (the issue's call): the start-up hook of the install makes
    ``MMPoseInferencer(pose3d=...)`` build ours before the config's ``custom_imports`` run."""
    import subprocess
    import sys
    script = tmp_path / 'user.py'
    script.write_text(
        'import sys\n'
        'import numpy as np\n'
        'from mmpose.apis import MMPoseInferencer\n'
        f'inferencer = MMPoseInferencer(pose3d={str(TINY)!r}, device="cpu")\n'
        'out = next(inferencer(np.zeros((64, 64, 3), np.uint8), K=(100, 100, 32, 32)))\n'
        'print(type(inferencer.inferencer).__name__, np.shape(out["predictions"][0][0]["keypoints"]))\n')
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == 'Hand25DInferencer (21, 3)'
