"""The synthetic hand-detection composites (peclr_lab.synthetic.detection) and the RTMDet-nano config that
trains the inferencer's hand detector on them: valid COCO whose boxes lie in the images and hold each hand's
keypoints, the hand really drawn inside its box, determinism, safe writes, the CLI, and that the config
builds its datasets on a tiny set (no training here)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from peclr_lab.synthetic import make_synthetic_hand_detection, render_composite
from peclr_lab.synthetic.detection import MARKER

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs' / 'hand_det' / 'rtmdet_cspnext-nano_1xb8-500it_synth-hands-320x320.py'
N_TRAIN, N_VAL, SEED, W, H = 6, 3, 1, 320, 240


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    return make_synthetic_hand_detection(tmp_path_factory.mktemp('det') / 'hands', N_TRAIN, N_VAL, seed=SEED,
                                         progress=False)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.mark.parametrize('split, count', [('train', N_TRAIN), ('val', N_VAL)])
def test_coco_is_valid_and_boxes_hold_the_hands(dataset, split, count):
    from pycocotools.coco import COCO

    coco = COCO(str(dataset / 'annotations' / f'{split}.json'))
    assert coco.getCatIds() == [1] and coco.loadCats(1)[0]['name'] == 'hand'
    assert sorted(coco.getImgIds()) == list(range(1, count + 1))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) > 0 and len({a['id'] for a in anns}) == len(anns)
    for info in coco.loadImgs(coco.getImgIds()):
        img = cv2.imread(str(dataset / split / info['file_name']))
        assert img.shape == (H, W, 3) and (info['width'], info['height']) == (W, H)
    for a in anns:
        x, y, w, h = a['bbox']
        assert 0 <= x and 0 <= y and x + w <= W + 1e-6 and y + h <= H + 1e-6, a['bbox']
        assert 10 < w < 128 and 10 < h < 128 and a['area'] == pytest.approx(w * h, abs=0.02)
        assert a['iscrowd'] == 0 and a['category_id'] == 1 and a['num_keypoints'] == 21
        kpts = np.asarray(a['keypoints']).reshape(21, 3)
        assert (kpts[:, 2] == 2).all()
        assert (kpts[:, 0] >= x - 0.01).all() and (kpts[:, 0] <= x + w + 0.01).all()
        assert (kpts[:, 1] >= y - 0.01).all() and (kpts[:, 1] <= y + h + 0.01).all()
        # tight: the keypoints span most of the box (the silhouette adds only the fingers' thickness)
        assert np.ptp(kpts[:, 0]) > 0.4 * w or np.ptp(kpts[:, 1]) > 0.4 * h


def test_the_hand_is_drawn_inside_its_box():
    """The same scene without hands (max_hands=0 draws the same background and noise) differs from the
    composite at the hands' keypoints and over much of their boxes (and nowhere when there is no hand)."""
    found = 0
    for index in range(8):
        image, boxes, keypoints = render_composite(SEED, 'train', index)
        empty, none, _ = render_composite(SEED, 'train', index, max_hands=0)
        assert none == []
        changed = np.abs(image.astype(np.int16) - empty.astype(np.int16)).max(2) > 12
        for box, uv in zip(boxes, keypoints):
            assert (uv >= box[:2] - 1e-9).all() and (uv <= box[2:] + 1e-9).all()
            x1, y1, x2, y2 = np.round(box).astype(int)
            assert changed[y1:y2, x1:x2].mean() > 0.15  # the hand fills a good part of its box
            px = np.clip(np.round(uv).astype(int), 0, [image.shape[1] - 1, image.shape[0] - 1])
            assert changed[px[:, 1], px[:, 0]].mean() >= 0.6  # the keypoints sit on drawn pixels
        found += bool(boxes)
        assert changed.any() == bool(boxes)
    assert found >= 4


def test_deterministic_per_seed(dataset, tmp_path):
    again = make_synthetic_hand_detection(tmp_path / 'again', N_TRAIN, N_VAL, seed=SEED, progress=False)
    other = make_synthetic_hand_detection(tmp_path / 'other', N_TRAIN, N_VAL, seed=SEED + 1, progress=False)
    assert _files(again) == _files(dataset)
    assert _files(other)['annotations/train.json'] != _files(dataset)['annotations/train.json']
    a, b = render_composite(SEED, 'train', 2), render_composite(SEED, 'val', 2)  # splits draw own streams
    assert not np.array_equal(a[0], b[0])


def test_refuses_to_replace_what_it_did_not_write(tmp_path):
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'keep.txt').write_text('x')
    with pytest.raises(FileExistsError, match='not empty'):
        make_synthetic_hand_detection(foreign, 1, 1, progress=False)
    with pytest.raises(FileExistsError, match=MARKER):
        make_synthetic_hand_detection(foreign, 1, 1, overwrite=True, progress=False)
    assert (foreign / 'keep.txt').read_text() == 'x'
    with pytest.raises(ValueError, match='hand_sizes'):
        make_synthetic_hand_detection(tmp_path / 'big', 1, 1, hand_sizes=(48, 400), progress=False)
    assert not list(tmp_path.glob('big*'))


def test_cli(tmp_path, capsys):
    from tools.make_synthetic_hand_detection import main

    out = tmp_path / 'cli'
    assert main([str(out), '--num-train', '2', '--num-val', '1', '--width', '160', '--height', '120',
                 '--hand-sizes', '40', '64', '--no-progress']) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert json.loads((out / MARKER).read_text())['hand_sizes'] == [40, 64]
    assert main([str(out), '--num-train', '2', '--num-val', '1', '--no-progress']) == 2
    assert 'not empty' in capsys.readouterr().err


def test_config_builds_the_datasets(dataset):
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(str(CONFIG))
    assert cfg.default_scope == 'mmdet' and cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.model.bbox_head.num_classes == 1 and cfg.model.backbone.widen_factor == 0.25  # RTMDet-nano
    pipelines = cfg.train_dataloader.dataset.pipeline + cfg.test_dataloader.dataset.pipeline
    assert {t.type for t in pipelines}.isdisjoint({'CachedMosaic', 'CachedMixUp'})
    assert all(t._scope_ == 'mmdet' for t in pipelines)
    init_default_scope('mmdet')
    train = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(dataset) + '/'))
    val = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=str(dataset) + '/'))
    assert len(train) == N_TRAIN and len(val) == N_VAL and train.metainfo['classes'] == ('hand',)
    coco = json.loads((dataset / 'annotations' / 'train.json').read_text())
    for i in range(N_TRAIN):
        info = train.get_data_info(i)
        want = [a['bbox'] for a in coco['annotations'] if a['image_id'] == info['img_id']]
        got = [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in (inst['bbox'] for inst in info['instances'])]
        assert np.allclose(got, want) and all(inst['bbox_label'] == 0 for inst in info['instances'])
    sample = val[0]
    assert tuple(sample['inputs'].shape) == (3, 320, 320)  # the test pipeline pads to mmpose's 320 x 320
