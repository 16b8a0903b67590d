"""Single-image 2.5-D inference: inference_hand25d with and without a camera, the defaults of
TopdownAffine3D, the head without ground truth, its flip, inference on files (its inputs) and tools/infer.py
end to end."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample
from mmpose.structures.bbox import get_warp_matrix

import peclr_mm.pose  # noqa: F401
from peclr_mm.geometry import SCALE_BONE, bone_length, to_homogeneous
from peclr_mm.pose import Hand25D, TopdownAffine3D, inference_hand25d
from peclr_mm.pose.inference_inputs import (
    InputError,
    IntrinsicsMap,
    inferencer_inputs,
    intrinsics_for,
    parse_K,
)
from peclr_mm.pose.transforms import DEFAULT_HAND_SCALE, PECLR_DEFAULT_K_224, default_input_K

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / 'configs' / 'freihand3d' / 'td-reg25d_res18_1xb8-1e_freihand3d-64x64.py'
SIZE = 64


@pytest.fixture(scope='module')
def model():
    from mmpose.apis import init_model
    torch.manual_seed(0)
    return init_model(str(TINY), None, device='cpu')


@pytest.fixture(scope='module')
def hand():
    """A synthetic 96 x 96 hand (BGR), its intrinsics and joints (metres, camera frame)."""
    from peclr_lab.synthetic import render_sample
    s = render_sample(3, 'evaluation', 1, size=96)
    return s.images[0], s.K, s.xyz


@pytest.fixture(scope='module')
def checkpoint(model, tmp_path_factory):
    """The randomly initialised tiny model saved as an mmengine-style checkpoint."""
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=model.dataset_meta)), path)
    return path


def _expected(model, image, box, input_K, scale):
    """Independent path: crop with the box's warp (cv2), backbone + head, the head's refined root, then
    the Hand25D codec with ``input_K``. Returns camera-frame joints (21, 3) and input-pixel uv (21, 2)."""
    center, wh = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
    warp = get_warp_matrix(center, wh, 0.0, output_size=(SIZE, SIZE))
    crop = cv2.warpAffine(image, warp, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    rgb = torch.from_numpy(crop[..., ::-1].copy()).permute(2, 0, 1)[None].float()
    pre = model.data_preprocessor
    inputs = (rgb - pre.mean) / pre.std  # the config's normalisation (ImageNet statistics, RGB)
    with torch.no_grad():
        pred = model.head(model.extract_feat(inputs))
        root = model.head.refine(pred, torch.as_tensor(input_K[None])).numpy()
    xyz, uv = Hand25D(input_size=(SIZE, SIZE)).decode(pred.numpy(), input_K[None], np.array([scale]), root)
    return xyz[0], uv[0], warp


@pytest.mark.parametrize('box', [None, (10.0, 4.0, 90.0, 84.0)])
def test_with_K_equals_codec_decode_in_camera_frame(model, hand, box):
    image, K, xyz_gt = hand
    scale = float(bone_length(xyz_gt))
    (res, ) = inference_hand25d(model, image, bbox=box, K=K, bone_length=scale)
    b = np.array(box if box is not None else (0, 0, 96, 96), np.float64)
    warp = get_warp_matrix((b[:2] + b[2:]) / 2, b[2:] - b[:2], 0.0, output_size=(SIZE, SIZE))
    xyz, uv, warp = _expected(model, image, b, to_homogeneous(warp) @ K, scale)
    assert res['frame'] == 'camera' and not res['bone_length_default'] and res['bone_length'] == scale
    np.testing.assert_allclose(res['K'], K)
    np.testing.assert_allclose(res['keypoints_3d'], xyz, rtol=1e-4, atol=1e-6)
    # 2-D keypoints in image pixels: the input-pixel uv mapped back through the crop
    back = (uv - warp[:, 2]) @ np.linalg.inv(warp[:, :2]).T
    np.testing.assert_allclose(res['keypoints'], back, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(res['bbox'], b)


def test_without_K_is_root_relative_with_default_camera_and_bone(model, hand):
    image, _, _ = hand
    (res, ) = inference_hand25d(model, image)
    assert res['frame'] == 'root-relative' and res['K'] is None
    assert res['bone_length_default'] and res['bone_length'] == DEFAULT_HAND_SCALE
    b = np.array([0, 0, 96, 96], np.float64)
    xyz, _, _ = _expected(model, image, b, default_input_K((SIZE, SIZE)), DEFAULT_HAND_SCALE)
    np.testing.assert_allclose(res['keypoints_3d'], xyz - xyz[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(res['keypoints_3d'][0], 0.0)


def test_api_input_forms_and_errors(model, hand, tmp_path):
    image, K, _ = hand
    path = tmp_path / 'hand.png'
    cv2.imwrite(str(path), image)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    a = inference_hand25d(model, str(path), K=(fx, fy, cx, cy), bone_length=0.03)
    b = inference_hand25d(model, image, K=K, bone_length=0.03)
    np.testing.assert_allclose(a[0]['keypoints_3d'], b[0]['keypoints_3d'])  # png is lossless
    two = inference_hand25d(model, image, bbox=[[0, 0, 96, 96], [10, 4, 90, 84]])
    assert len(two) == 2 and all(h['frame'] == 'root-relative' for h in two)
    with pytest.raises(FileNotFoundError, match='nope.png'):
        inference_hand25d(model, str(tmp_path / 'nope.png'))
    with pytest.raises(ValueError, match='bbox'):
        inference_hand25d(model, image, bbox=(10, 10, 5, 20))
    with pytest.raises(ValueError, match='intrinsics'):
        inference_hand25d(model, image, K=np.zeros((3, 3)))
    with pytest.raises(ValueError, match='bone_length'):
        inference_hand25d(model, image, bone_length=-1)


def test_topdown_affine3d_defaults_are_marked():
    rng = np.random.default_rng(0)
    base = dict(img=rng.integers(0, 255, (80, 120, 3), dtype=np.uint8), bbox_center=np.array([[60.0, 40.0]]),
                bbox_scale=np.array([[70.0, 70.0]]))
    t = TopdownAffine3D(input_size=(SIZE, SIZE))
    res = t(dict(base))
    assert res['K_is_default'] and res['hand_scale_is_default']
    np.testing.assert_allclose(res['hand_scale'], [DEFAULT_HAND_SCALE])
    Kd = np.array(PECLR_DEFAULT_K_224) * np.array([[SIZE / 224] * 3, [SIZE / 224] * 3, [1, 1, 1]])
    np.testing.assert_allclose(res['input_K'][0], Kd)
    np.testing.assert_allclose(res['input_affine'] @ res['K'][0], Kd, atol=1e-9)  # K' = A K still holds
    # with a camera and a scale nothing is defaulted and K' = A K
    K = np.array([[[500.0, 0, 60], [0, 500.0, 40], [0, 0, 1]]])
    res = t(dict(base, K=K, hand_scale=np.array([0.028])))
    assert not res['K_is_default'] and not res['hand_scale_is_default']
    np.testing.assert_allclose(res['input_K'][0], res['input_affine'] @ K[0])
    np.testing.assert_allclose(res['hand_scale'], [0.028])
    custom = TopdownAffine3D(input_size=(SIZE, SIZE), default_K=(100, 110, 30, 31), default_hand_scale=0.02)
    res = custom(dict(base))
    np.testing.assert_allclose(res['input_K'][0], [[100, 0, 30], [0, 110, 31], [0, 0, 1]])
    np.testing.assert_allclose(res['hand_scale'], [0.02])
    with pytest.raises(ValueError, match='default_hand_scale'):
        TopdownAffine3D(input_size=(SIZE, SIZE), default_hand_scale=0.0)


def test_head_predict_reads_metainfo_without_ground_truth(model):
    """input_K and hand_scale in a data sample's metainfo (no gt_instances fields) work like gt_instances."""
    head = model.head
    feats = (torch.randn(2, head.in_channels, 2, 2), )
    K = np.stack([default_input_K((SIZE, SIZE)), [[90.0, 0, 30], [0, 95.0, 33], [0, 0, 1]]])
    scale = np.array([0.03, 0.025])
    meta = [PoseDataSample(metainfo=dict(input_K=K[i:i + 1], hand_scale=scale[i:i + 1])) for i in range(2)]
    gt = []
    for i in range(2):
        d = PoseDataSample()
        d.gt_instances = InstanceData(input_K=K[i:i + 1], hand_scale=scale[i:i + 1])
        gt.append(d)
    with torch.no_grad():
        a, b = head.predict(feats, meta, test_cfg={}), head.predict(feats, gt, test_cfg={})
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p.keypoints_cam, q.keypoints_cam)
        pred = head(feats)
        root = head.refine(pred, torch.as_tensor(K)).numpy()
    xyz, _ = head.decoder.decode(pred.numpy(), K, scale, root)
    np.testing.assert_allclose(np.concatenate([p.keypoints_cam for p in a]), xyz)


@pytest.mark.parametrize('width', [64, 57])
def test_flip_coordinates_equals_the_old_flip_formula(width):
    """mmpose's flip_coordinates (shift_coords=True) == the head's former hand-written flip:
    permute the joints, then u -> (w - 1) / w - u (x -> w - 1 - x in pixels); depth unchanged."""
    from mmpose.models.utils.tta import flip_coordinates
    torch.manual_seed(0)
    pred = torch.rand(3, 21, 3)
    flip_indices = list(np.random.default_rng(0).permutation(21))
    old = pred[:, flip_indices]
    old = torch.cat([(width - 1) / width - old[..., :1], old[..., 1:]], dim=-1)
    new = flip_coordinates(pred.clone(), flip_indices=flip_indices, shift_coords=True,
                           input_size=(width, width))
    torch.testing.assert_close(new, old, rtol=0, atol=1e-6)


def test_head_uses_the_shared_scale_bone():
    from peclr_mm.pose import Regression25DHead
    assert Regression25DHead(in_channels=8).scale_bone == SCALE_BONE  # without a decoder too


def _infer_tool(*args: str) -> subprocess.CompletedProcess:
    """``tools/infer.py ARGS`` in its own process."""
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'infer.py'), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_infer_tool_end_to_end(hand, checkpoint, tmp_path):
    """The CLI in its own process: picture + JSON; K from a JSON file gives camera-frame joints."""
    image, K, xyz = hand
    cv2.imwrite(str(tmp_path / 'hand.png'), image)
    (tmp_path / 'K.json').write_text(json.dumps(K.tolist()))
    out = tmp_path / 'out'
    run = _infer_tool(tmp_path / 'hand.png', '--config', TINY, '--checkpoint', checkpoint,
                      '--K', tmp_path / 'K.json', '--bone-length', '0.03', '--out', out)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(str(p.relative_to(out)) for p in out.rglob('*.*')) == ['predictions/hand.png.json',
                                                                         'visualizations/hand.png']
    assert cv2.imread(str(out / 'visualizations' / 'hand.png')) is not None
    (h, ) = json.loads((out / 'predictions' / 'hand.png.json').read_text())
    assert h['frame'] == 'camera' and h['bone_length'] == 0.03 and not h['bone_length_default']
    assert np.array(h['keypoints_2d']).shape == (21, 2) and np.array(h['keypoints']).shape == (21, 3)
    assert h['units']['keypoints'] == 'metres'
    np.testing.assert_allclose(h['K'], K)


def _image_folder(tmp_path: Path, image: np.ndarray) -> Path:
    """``tmp_path/imgs`` with ``image`` as a.png and b.jpg."""
    folder = tmp_path / 'imgs'
    folder.mkdir()
    for name in ('a.png', 'b.jpg'):
        cv2.imwrite(str(folder / name), image)
    return folder


def test_inference_inputs_errors(model, hand, tmp_path):
    """Bad inputs raise InputError with one line naming the file or the option."""
    folder = _image_folder(tmp_path, hand[0])
    assert inferencer_inputs(folder) == [str(folder / 'a.png'), str(folder / 'b.jpg')]
    with pytest.raises(InputError, match='missing.png: no such image, folder or video'):
        inferencer_inputs(tmp_path / 'missing.png')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(InputError, match='empty: no images'):
        inferencer_inputs(tmp_path / 'empty')
    (tmp_path / 'bad.png').write_text('not an image')
    with pytest.raises(InputError, match='bad.png: not a readable image'):
        inferencer_inputs(tmp_path / 'bad.png')
    (tmp_path / 'bad.avi').write_text('not a video')
    with pytest.raises(InputError, match='bad.avi: not a readable video'):
        inferencer_inputs(tmp_path / 'bad.avi')
    with pytest.raises(InputError, match='--K: expected fx fy cx cy or one JSON file, got 2 values'):
        parse_K(['1', '2'])
    with pytest.raises(InputError, match='--K: expected fx fy cx cy as numbers'):
        parse_K(['1', '2', 'x', '4'])
    (tmp_path / 'Kmap.json').write_text(json.dumps({'a.png': [100, 100, 48, 48]}))
    kmap = parse_K([str(tmp_path / 'Kmap.json')])
    assert isinstance(kmap, IntrinsicsMap) and kmap.source == str(tmp_path / 'Kmap.json')
    np.testing.assert_array_equal(kmap['a.png'], [[100, 0, 48], [0, 100, 48], [0, 0, 1]])
    from peclr_mm.pose import Hand25DInferencer
    inferencer = Hand25DInferencer(str(TINY), None, device='cpu')
    results = inferencer(inferencer_inputs(folder), K=kmap)
    assert next(results)['predictions'][0][0]['frame'] == 'camera'  # a.png has its K
    with pytest.raises(InputError, match=f"Kmap.json: no K for {'b.jpg'!r}"):
        next(results)


def test_infer_tool_errors_are_one_line(hand, checkpoint, tmp_path):
    """The CLI in its own process: each bad input is one line ``error: ...``, exit status 1."""
    folder = _image_folder(tmp_path, hand[0])
    common = ['--config', str(TINY), '--checkpoint', str(checkpoint)]
    (tmp_path / 'Kmap.json').write_text(json.dumps({'a.png': [100, 100, 48, 48]}))
    kmap = ['--K', str(tmp_path / 'Kmap.json')]
    (tmp_path / 'boxes.json').write_text(json.dumps({'a.png': [[10, 10, 5, 20]]}))
    runs = [_infer_tool(tmp_path / 'missing.png', *common, '--out', tmp_path / 'o3'),
            _infer_tool(folder, *common, '--out', tmp_path / 'o3', '--K', '1', '2'),
            _infer_tool(folder, *common, '--out', tmp_path / 'o3', *kmap),
            _infer_tool(folder, *common, '--out', tmp_path / 'o3', '--bbox', '1', '2', '3'),
            _infer_tool(folder, *common, '--out', tmp_path / 'o3', '--bboxes', tmp_path / 'boxes.json')]
    assert [run.returncode for run in runs] == [1] * 5
    err = [line for run in runs for line in run.stderr.strip().splitlines()]
    assert len(err) == 5 and all(line.startswith('error: ') for line in err)
    assert 'missing.png' in err[0] and '--K' in err[1] and "'b.jpg'" in err[2]
    assert '--bbox: expected x1 y1 x2 y2 per box, got 3 numbers' in err[3]
    assert "boxes.json: field 'a.png': boxes must be (x1, y1, x2, y2) with x2 > x1 and y2 > y1" in err[4]


def test_freihand_per_sample_K_list_and_capped_errors(tmp_path):
    """FreiHAND's evaluation_K.json (a list of 3 x 3 matrices): sample i is image %08d.jpg; a bad file's
    error stays one short line however large the file."""
    Ks = [[[400.0 + i, 0, 112], [0, 401.0 + i, 113], [0, 0, 1]] for i in range(3)]
    path = tmp_path / 'evaluation_K.json'
    path.write_text(json.dumps(Ks))
    kmap = parse_K([str(path)])
    assert isinstance(kmap, IntrinsicsMap) and sorted(kmap) == ['00000000.jpg', '00000001.jpg', '00000002.jpg']
    np.testing.assert_array_equal(kmap['00000002.jpg'], np.array(Ks[2]))
    with pytest.raises(InputError, match=r"evaluation_K\.json: no K for '00000003\.jpg'"):
        intrinsics_for(kmap, '00000003.jpg')
    big = tmp_path / 'big.json'
    big.write_text(json.dumps([[1.0] * 5] * 20000))  # neither a K nor a list of them
    with pytest.raises(InputError) as err:
        parse_K([str(big)])
    assert str(err.value).startswith(str(big)) and len(str(err.value)) < 400 and '\n' not in str(err.value)
