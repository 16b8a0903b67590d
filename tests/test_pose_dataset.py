"""FreiHand3DDataset on small FreiHAND-format folders: splits, versions, label fraction, validation."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_freihand

import peclr_mm.pose  # noqa: F401
from peclr_mm.freihand import FreiHandFormatError
from peclr_mm.geometry import SKELETON, project
from peclr_mm.pose import FreiHand3DDataset


def _ds(root, **kw):
    return FreiHand3DDataset(data_root=str(root), **kw)


def test_reads_all_versions_and_evaluation(freihand_root):
    train = _ds(freihand_root, split='train', val_ratio=0.25)
    val = _ds(freihand_root, split='val', val_ratio=0.25, test_mode=True)
    test = _ds(freihand_root, split='test', test_mode=True)
    assert (len(train), len(val), len(test)) == (6 * 4, 2 * 4, 4)
    xyz = np.array(json.loads((freihand_root / 'training_xyz.json').read_text()))
    K = np.array(json.loads((freihand_root / 'training_K.json').read_text()))
    scale = np.array(json.loads((freihand_root / 'training_scale.json').read_text()))
    seen = set()
    for ds in (train, val):
        for k in range(len(ds)):
            info = ds.get_data_info(k)
            i, v = info['sample_id'], FreiHand3DDataset.VERSIONS.index(info['version'])
            assert info['img_id'] == i + 8 * v  # image index = sample + N * version
            assert Path(info['img_path']).name == f'{i + 8 * v:08d}.jpg' and os.path.isfile(info['img_path'])
            np.testing.assert_allclose(info['keypoints_cam'][0], xyz[i])
            np.testing.assert_allclose(info['K'][0], K[i])
            assert info['hand_scale'][0] == scale[i]
            np.testing.assert_allclose(info['keypoints'][0], project(xyz[i], K[i]), atol=1e-4)
            assert info['keypoints'].shape == (1, 21, 2) and info['keypoints_visible'].shape == (1, 21)
            np.testing.assert_allclose(info['bbox'], [[0, 0, 224, 224]])
            seen.add((ds.split, i))
    train_ids = {i for s, i in seen if s == 'train'}
    val_ids = {i for s, i in seen if s == 'val'}
    assert not train_ids & val_ids and train_ids | val_ids == set(range(8))  # disjoint by sample
    info = test.get_data_info(3)
    assert info['sample_id'] == 3 and info['img_path'].endswith(os.path.join('evaluation', 'rgb', '00000003.jpg'))
    meta = train.metainfo
    assert meta['num_keypoints'] == 21 and meta['keypoint_id2name'][0] == 'wrist'
    assert meta['keypoint_id2name'][20] == 'pinky_finger4' and meta['skeleton_links'] == SKELETON
    assert meta['flip_indices'] == list(range(21))


def test_versions_label_fraction_and_bbox(freihand_root):
    gs = _ds(freihand_root, versions=('gs', 'auto'), val_ratio=0.25)
    assert {gs.get_data_info(k)['version'] for k in range(len(gs))} == {'gs', 'auto'} and len(gs) == 12
    half = _ds(freihand_root, val_ratio=0.25, label_fraction=0.5, seed=1)
    ids = sorted({half.get_data_info(k)['sample_id'] for k in range(len(half))})
    assert len(ids) == 3 and len(half) == 12  # 50 % of the 6 unique training samples, all versions
    again = _ds(freihand_root, val_ratio=0.25, label_fraction=0.5, seed=1)
    assert ids == sorted({again.get_data_info(k)['sample_id'] for k in range(len(again))})  # deterministic
    full = {_ds(freihand_root, val_ratio=0.25).get_data_info(k)['sample_id'] for k in range(24)}
    assert set(ids) <= full  # chosen among the training (not validation) samples
    others = [sorted({d.get_data_info(k)['sample_id'] for k in range(len(d))})
              for d in (_ds(freihand_root, val_ratio=0.25, label_fraction=0.5, seed=s) for s in range(2, 8))]
    assert any(o != ids for o in others)  # the seed matters
    kp = _ds(freihand_root, split='test', bbox_mode='keypoints', test_mode=True).get_data_info(0)
    np.testing.assert_allclose(kp['bbox'][0, :2], kp['keypoints'][0].min(0), atol=1e-4)
    np.testing.assert_allclose(kp['bbox'][0, 2:], kp['keypoints'][0].max(0), atol=1e-4)
    for bad in (dict(split='eval'), dict(split='test', versions=('gs',)), dict(versions=('rgb',)),
                dict(split='val', val_ratio=0.0), dict(label_fraction=0.0),
                dict(split='val', label_fraction=0.5), dict(bbox_mode='tight')):
        with pytest.raises(ValueError):
            _ds(freihand_root, **bad)


def _edit(path: Path, fn):
    data = json.loads(path.read_text())
    path.write_text(json.dumps(fn(data)))


def _set(i, value, at=None):
    def fn(data):
        if at is None:
            data[i] = value
        else:
            data[i][at[0]][at[1]] = value
        return data
    return fn


# (case, file, edit, expected fragments of the one-line message)
CASES = [
    ('xyz/K length', 'training_K.json', lambda d: d[:-1], ["training_K.json", "'K' has 7 samples", '8']),
    ('xyz/scale length', 'training_scale.json', lambda d: d + [0.03], ["training_scale.json", "'scale' has 9"]),
    ('xyz shape', 'training_xyz.json', _set(3, [[0.0, 0.0, 0.5]] * 20), ["training_xyz.json", "'xyz', sample 3",
                                                                        '(20, 3)', '21x3']),
    ('K shape', 'training_K.json', _set(2, [[500.0, 0.0], [0.0, 500.0], [0.0, 0.0]]), ["training_K.json",
                                                                                     "'K', sample 2", '3x3']),
    ('non-finite', 'training_xyz.json', _set(5, float('nan'), at=(4, 1)), ["training_xyz.json", "'xyz', sample 5",
                                                                          'non-finite']),
    ('K singular', 'training_K.json', _set(1, [[500.0, 0, 112], [0, 500.0, 112], [0, 0, 0]]),
     ["training_K.json", "'K', sample 1", 'not invertible']),
    ('depth', 'training_xyz.json', _set(6, -0.1, at=(7, 2)), ["training_xyz.json", "'xyz', sample 6", 'joint 7',
                                                             'depth']),
    ('scale <= 0', 'training_scale.json', _set(4, 0.0), ["training_scale.json", "'scale', sample 4"]),
    ('missing image', 'training/rgb/00000021.jpg', None, ['00000021.jpg', 'image missing', 'sample 5']),
    ('extra images', 'training/rgb/00000032.jpg', 'copy', ['training/rgb', '00000032', '8 samples',
                                                           'disagree']),
    ('malformed', 'training_scale.json', 'truncate', ['training_scale.json', 'malformed JSON', "'scale'"]),
    ('missing file', 'training_K.json', None, ['training_K.json', 'file not found']),
    ('eval length', 'evaluation_K.json', lambda d: d[:-1], ['evaluation_K.json', "'K' has 3 samples"]),
    ('transposed K', 'training_K.json', lambda d: d[:2] + [np.transpose(d[2]).tolist()] + d[3:],
     ["training_K.json", "'K', sample 2", 'nonzero entries below the diagonal (bottom row [16, 16, 1])',
      'expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (a transposed K?)']),
    ('empty annotations', 'training_xyz.json', lambda d: [], ["training_xyz.json", "field 'xyz' is empty"]),
    ('png for jpg', 'training/rgb/00000021.jpg', 'png', ['training/rgb: 00000021.png: FreiHAND images are '
                                                         'named %08d.jpg (00000000.jpg, 00000001.jpg, ...)']),
    ('image of another size', 'training/rgb/00000000.jpg', 'resize',
     ['training/rgb/00000000.jpg: image is 48x48 but 31 of the 32 images of the folder are 32x32']),
    ('not an image', 'training/rgb/00000005.jpg', 'garbage', ['00000005.jpg: unreadable image header']),
    ('empty folder', 'training/rgb', 'empty', ['training/rgb: empty: no FreiHAND images (%08d.jpg)']),
    ('empty eval folder', 'evaluation/rgb', 'empty', ['evaluation/rgb: empty: no FreiHAND images']),
]


@pytest.mark.parametrize('case, name, edit, fragments', CASES, ids=[c[0] for c in CASES])
def test_validation_errors(tmp_path, case, name, edit, fragments):
    root = write_freihand(tmp_path / 'fh', size=32)
    path = root / name
    if edit is None:
        path.unlink()
    elif edit == 'copy':
        path.write_bytes((root / 'training' / 'rgb' / '00000000.jpg').read_bytes())
    elif edit == 'truncate':
        path.write_text(path.read_text()[:-3])
    elif edit == 'png':  # the same picture, saved under the other suffix
        cv2.imwrite(str(path.with_suffix('.png')), cv2.imread(str(path)))
        path.unlink()
    elif edit == 'resize':  # the audit's case: the first image of another size
        cv2.imwrite(str(path), cv2.resize(cv2.imread(str(path)), (48, 48)))
    elif edit == 'garbage':
        path.write_text('not a jpeg')
    elif edit == 'empty':
        for f in path.iterdir():
            f.unlink()
    else:
        _edit(path, edit)
    split = 'test' if name.startswith('evaluation') else 'train'
    with pytest.raises(FreiHandFormatError) as err:
        _ds(root, split=split, test_mode=split == 'test', image_size=(32, 32))
    msg = str(err.value)
    assert '\n' not in msg
    for frag in fragments:
        assert frag in msg, (frag, msg)


def test_image_size_is_read_from_the_files(tmp_path):
    root = write_freihand(tmp_path / 'fh', size=128)
    info = _ds(root, split='test', test_mode=True).get_data_info(0)
    np.testing.assert_array_equal(info['bbox'], [[0, 0, 128, 128]])  # not the 224 px default
    with pytest.raises(FreiHandFormatError, match=r'evaluation/rgb: images are 128x128 but image_size=\(224, 224\)'):
        _ds(root, split='test', test_mode=True, image_size=(224, 224))


def test_implausible_annotations_are_warned_once_per_file(tmp_path):
    root = write_freihand(tmp_path / 'fh')
    _edit(root / 'training_scale.json', lambda d: [v * 10 if i in (1, 4) else v for i, v in enumerate(d)])
    K = json.loads((root / 'training_K.json').read_text())
    K[6][0][0] = K[6][1][1] = 1e5  # focal length x200: every joint far outside the image
    (root / 'training_K.json').write_text(json.dumps(K))
    with pytest.warns(UserWarning) as record:
        _ds(root, split='train')
    messages = [str(w.message) for w in record]
    assert any("training_scale.json: 2 of 8 samples have a 'scale' more than 2x off" in m for m in messages), messages
    assert any('training_K.json: 1 of 8 samples project every joint outside the 224x224 image (first: sample 6)'
               in m for m in messages), messages
