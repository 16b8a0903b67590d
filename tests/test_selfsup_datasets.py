"""Unlabeled hand datasets: FreiHAND versions, YouTube3DHands crops, image folders, weighted mixing."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
from conftest import write_freihand
from mmpretrain.registry import DATASETS

import peclr_mm.selfsup  # noqa: F401
from peclr_mm.selfsup import FreiHandImages, HandImageFolder, MixedHandDataset, YouTube3DHands

LOAD = [dict(type='LoadHandImage')]


def test_freihand_versions_and_indices(freihand_root):
    ds = DATASETS.build(dict(type='FreiHandImages', data_root=str(freihand_root), pipeline=LOAD))
    assert len(ds) == 32  # 8 samples x 4 versions
    ds = FreiHandImages(str(freihand_root), versions=('hom', 'auto'), pipeline=LOAD)
    names = [os.path.basename(ds.get_data_info(i)['img_path']) for i in range(len(ds))]
    assert names == [f'{i + 8:08d}.jpg' for i in range(8)] + [f'{i + 24:08d}.jpg' for i in range(8)]
    item = ds[9]  # auto version of sample 1 = file 8 * 3 + 1
    assert item['img'].shape == (224, 224, 3) and item['img_path'].endswith('00000025.jpg')
    ref = cv2.imread(str(freihand_root / 'training' / 'rgb' / '00000025.jpg'))
    np.testing.assert_array_equal(item['img'], ref)
    pseudo = FreiHandImages(str(freihand_root), versions=('hom',), bbox_mode='pseudo', pipeline=LOAD)
    box = pseudo.get_data_info(0)['hand_bbox']  # the official pseudo box: centred, half side 0.33 * 112
    np.testing.assert_allclose(box, [111.5 - 36.96, 111.5 - 36.96, 111.5 + 36.96, 111.5 + 36.96], atol=1e-4)
    assert len(FreiHandImages(str(freihand_root), versions='gs', indices=[1, 3])) == 2
    with pytest.raises(ValueError, match=r"valid: \['gs', 'hom', 'sample', 'auto'\]"):
        FreiHandImages(str(freihand_root), versions=('gs', 'rgb'))


def test_freihand_keypoint_box_from_labels(freihand_root, tmp_path):
    # with training_xyz/K present ('auto'), the box is the tight box of the joints projected with K,
    # for every version of a sample (the official loader crops labelled training samples around them)
    xyz = np.asarray(json.loads((freihand_root / 'training_xyz.json').read_text()))
    K = np.asarray(json.loads((freihand_root / 'training_K.json').read_text()))
    uvw = np.einsum('nij,nkj->nki', K, xyz)
    uv = uvw[..., :2] / uvw[..., 2:]
    ds = FreiHandImages(str(freihand_root), versions=('gs', 'auto'))
    for item, sample in ((0, 0), (3, 3), (8 + 5, 5)):
        box = ds.get_data_info(item)['hand_bbox']
        np.testing.assert_allclose(box, [*uv[sample].min(0), *uv[sample].max(0)], atol=1e-3)
    assert FreiHandImages(str(freihand_root), bbox_mode='keypoints').get_data_info(0)['hand_bbox'][2] > 0
    with pytest.raises(ValueError, match=r"valid: \['auto', 'keypoints', 'pseudo'\]"):
        FreiHandImages(str(freihand_root), bbox_mode='tight')
    root = tmp_path / 'fh'
    (root / 'training').mkdir(parents=True)
    os.symlink(freihand_root / 'training' / 'rgb', root / 'training' / 'rgb')
    (root / 'training_K.json').write_text(json.dumps(K.tolist()))
    bad = xyz.copy()
    bad[2, 4, 1] = np.nan
    (root / 'training_xyz.json').write_text(json.dumps(bad.tolist()).replace('NaN', 'NaN'))
    with pytest.raises(ValueError, match=r"training_xyz.json: field 'xyz', sample 2: non-finite"):
        FreiHandImages(str(root))
    (root / 'training_xyz.json').write_text(json.dumps(xyz[:5].tolist()))
    with pytest.raises(ValueError, match=r"training_K.json: field 'K' has 8 samples but .*training_xyz.json has 5"):
        FreiHandImages(str(root))


def test_freihand_hand_keypoints_from_labels(freihand_root):
    """Labelled FreiHAND: ``hand_keypoints`` are the 21 joints projected as the release does,
    ``(K @ xyz.T).T / z`` (convert_to_2_5D), float32 source pixels, the same for every version of a sample."""
    xyz = np.asarray(json.loads((freihand_root / 'training_xyz.json').read_text()))
    K = np.asarray(json.loads((freihand_root / 'training_K.json').read_text()))
    expected = np.stack([(K[i] @ xyz[i].T).T[:, :2] / xyz[i][:, 2:] for i in range(len(xyz))])
    ds = FreiHandImages(str(freihand_root), pipeline=LOAD)  # 'auto' with labels: 8 samples x 4 versions
    for item in range(len(ds)):
        kp = ds.get_data_info(item)['hand_keypoints']
        assert kp.dtype == np.float32 and kp.shape == (21, 2)
        np.testing.assert_allclose(kp, expected[item % 8], rtol=1e-6, atol=1e-4)
        np.testing.assert_array_equal(kp, ds.get_data_info(item % 8)['hand_keypoints'])  # all 4 versions
    out = ds[13]  # through the pipeline (version 'hom', sample 5)
    np.testing.assert_array_equal(out['hand_keypoints'], ds.get_data_info(5)['hand_keypoints'])
    out['hand_keypoints'][:] = -1  # a transform editing its copy leaves the dataset's keypoints alone
    np.testing.assert_allclose(ds.get_data_info(13)['hand_keypoints'], expected[5], rtol=1e-6, atol=1e-4)
    # a subset keeps each item's own sample (mmengine renumbers sample_idx; sample_id is the json row)
    sub = FreiHandImages(str(freihand_root), versions=('sample',), indices=[6, 2], serialize_data=False)
    assert [sub.get_data_info(i)['sample_id'] for i in range(2)] == [6, 2]
    np.testing.assert_allclose(sub.get_data_info(1)['hand_keypoints'], expected[2], rtol=1e-6, atol=1e-4)
    # hand_bbox is unchanged: the tight box of the same points
    box = ds.get_data_info(3)['hand_bbox']
    np.testing.assert_allclose(box, [*expected[3].min(0), *expected[3].max(0)], atol=1e-3)


def _release_pseudo_points(size=224.0, scale=0.33):
    """F_DB.create_sudo_bound_box (release data_loader/freihand_loader.py), written out: (21, 3)."""
    max_bound, min_bound = np.array([size, size]), np.array([0.0, 0.0])
    c = (max_bound + min_bound) / 2.0
    s = ((max_bound - min_bound) / 2.0) * scale
    box = np.array([[0, 0, 0]] + [[s[0], s[1], 1]] * 5 + [[-s[0], s[1], 1]] * 5 + [[s[0], -s[1], 1]] * 5
                   + [[-s[0], -s[1], 1]] * 5) + np.array([c[0], c[1], 0])
    return box


def _release_round_trip(pts25, K):
    """The release's convert_2_5D_to_3D(pts, scale=1.0, K) then convert_to_2_5D(K, .)[:, :2], in numpy
    (data_loader/utils.py; PARENT_JOINT = wrist = 0, CHILD_JOINT = index_mcp = 2 in its joint order)."""
    K_inv = np.linalg.inv(K)
    x_n, y_n, _ = K_inv @ np.r_[pts25[0, :2], 1.0]
    x_m, y_m, _ = K_inv @ np.r_[pts25[2, :2], 1.0]
    Z_n, Z_m, C = pts25[0, 2], pts25[2, 2], 1.0
    a = (x_n - x_m) ** 2 + (y_n - y_m) ** 2
    b = 2 * (Z_n * (x_n ** 2 + y_n ** 2 - x_n * x_m - y_n * y_m) + Z_m * (x_m ** 2 + y_m ** 2 - x_n * x_m - y_n * y_m))
    c = (x_n * Z_n - x_m * Z_m) ** 2 + (y_n * Z_n - y_m * Z_m) ** 2 + (Z_n - Z_m) ** 2 - C
    Z_root = 0.5 * (-b + max(b ** 2 - 4 * a * c, 1e-6) ** 0.5) / max(a, 1e-6)
    proj = pts25.copy()
    proj[:, -1] = 1.0
    joints3d = (proj @ K_inv.T) * ((pts25[:, -1:] + Z_root) * 1.0)
    return ((K @ joints3d.T).T / joints3d[:, -1:])[:, :2]


def test_freihand_pseudo_keypoints_are_the_releases(freihand_root, tmp_path):
    """Unlabelled FreiHAND: the release's 21 pseudo points (create_sudo_bound_box(scale=0.33)), which its
    lift to 3-D with K and projection back leaves unchanged; scaled with image_size (the release: 224)."""
    ref = _release_pseudo_points()
    np.testing.assert_allclose(ref[[0, 1, 6, 11, 16], :2],
                               [[112, 112], [148.96, 148.96], [75.04, 148.96], [148.96, 75.04], [75.04, 75.04]])
    K = np.asarray(json.loads((freihand_root / 'training_K.json').read_text()))
    for k in K:  # the release's round trip is the identity on (x, y)
        np.testing.assert_allclose(_release_round_trip(ref, k), ref[:, :2], atol=1e-9)
    ds = FreiHandImages(str(freihand_root), bbox_mode='pseudo', pipeline=LOAD)
    for item in (0, 9, 31):
        kp = ds.get_data_info(item)['hand_keypoints']
        assert kp.dtype == np.float32 and kp.shape == (21, 2)
        np.testing.assert_allclose(kp, ref[:, :2], rtol=1e-6)
    assert ds.get_data_info(0)['hand_bbox'][0] == np.float32(111.5 - 36.96)  # hand_bbox as before
    root256 = write_freihand(tmp_path / 'fh256', num_train=3, num_eval=1, size=256)  # side read, or agreeing
    for side in (None, 256):
        big = FreiHandImages(str(root256), versions='gs', bbox_mode='pseudo', image_size=side, bbox_scale=0.5)
        np.testing.assert_allclose(big.get_data_info(2)['hand_keypoints'],
                                   _release_pseudo_points(256, 0.5)[:, :2], rtol=1e-6)
    root = tmp_path / 'fh'  # no json at all ('auto' falls back to pseudo)
    (root / 'training').mkdir(parents=True)
    os.symlink(freihand_root / 'training' / 'rgb', root / 'training' / 'rgb')
    np.testing.assert_allclose(FreiHandImages(str(root)).get_data_info(5)['hand_keypoints'], ref[:, :2],
                               rtol=1e-6)


def test_freihand_images_never_mispair_images_and_boxes(freihand_root, tmp_path):
    """The shared FreiHAND layout check (also FreiHand3DDataset's): annotations for 7 samples beside 32 images
    (8 samples x 4 versions) and 30 unannotated images are refused instead of pairing the wrong files."""
    xyz = np.asarray(json.loads((freihand_root / 'training_xyz.json').read_text()))
    K = np.asarray(json.loads((freihand_root / 'training_K.json').read_text()))
    root = tmp_path / 'fh'
    (root / 'training').mkdir(parents=True)
    os.symlink(freihand_root / 'training' / 'rgb', root / 'training' / 'rgb')
    (root / 'training_xyz.json').write_text(json.dumps(xyz[:7].tolist()))
    (root / 'training_K.json').write_text(json.dumps(K[:7].tolist()))
    with pytest.raises(ValueError, match=r'image 00000031 exists but .*training_xyz.json has 7 samples x 4'):
        FreiHandImages(str(root))
    zero = K[:7].copy()
    zero[3] = 0.0
    (root / 'training_K.json').write_text(json.dumps(zero.tolist()))
    with pytest.raises(ValueError, match=r"training_K.json: field 'K', sample 3: not invertible"):
        FreiHandImages(str(root))
    far = K[:7].copy()
    far[2, 0, 2] = 1e7
    (root / 'training_K.json').write_text(json.dumps(far.tolist()))
    with pytest.raises(ValueError, match=r"training_K.json: field 'K', sample 2: principal point \(1e\+07, "):
        FreiHandImages(str(root))
    plain = tmp_path / 'plain' / 'training' / 'rgb'
    plain.mkdir(parents=True)
    for i in range(30):
        os.symlink(freihand_root / 'training' / 'rgb' / f'{i:08d}.jpg', plain / f'{i:08d}.jpg')
    with pytest.raises(ValueError, match=r'30 images are not 4 version\(s\) x N samples'):
        FreiHandImages(str(tmp_path / 'plain'))


def test_freihand_pseudo_box_follows_the_image_size(tmp_path):
    """The pseudo box and points are the release's for the images' own side, read from the files (64 px
    here; the 224 px numbers are test_freihand_versions_and_indices'); a given image_size must agree."""
    root = write_freihand(tmp_path / 'fh', num_train=2, num_eval=1, size=64)
    ds = FreiHandImages(str(root), bbox_mode='pseudo')
    half = 0.33 * 64 / 2
    np.testing.assert_allclose(ds.get_data_info(5)['hand_bbox'], [31.5 - half, 31.5 - half, 31.5 + half,
                                                                  31.5 + half], atol=1e-5)
    np.testing.assert_allclose(ds.get_data_info(5)['hand_keypoints'], _release_pseudo_points(64)[:, :2],
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r'training/rgb: images are 64x64 but image_size=224; leave '
                                         r'image_size=None to read it from the files'):
        FreiHandImages(str(root), bbox_mode='pseudo', image_size=224)
    for f in (root / 'training' / 'rgb').iterdir():  # non-square images have no pseudo box
        cv2.imwrite(str(f), np.zeros((64, 80, 3), np.uint8))
    with pytest.raises(ValueError, match=r'rgb: images are 80x64; the pseudo box needs square images'):
        FreiHandImages(str(root), bbox_mode='pseudo')


def test_freihand_images_refuse_what_would_fail_or_mislead_later(freihand_root, tmp_path):
    """The shared layout check, through FreiHandImages: an empty folder says so, a .png in place of a .jpg
    (found only when loading it) and an image of another size (trained on silently) are one-line errors."""
    (tmp_path / 'empty' / 'training' / 'rgb').mkdir(parents=True)
    with pytest.raises(ValueError, match=r'empty/training/rgb: empty: no FreiHAND images \(%08d.jpg\)'):
        FreiHandImages(str(tmp_path / 'empty'))
    root = tmp_path / 'fh'
    (root / 'training' / 'rgb').mkdir(parents=True)
    for f in (freihand_root / 'training' / 'rgb').iterdir():
        os.symlink(f, root / 'training' / 'rgb' / f.name)
    png = root / 'training' / 'rgb' / '00000007.png'
    cv2.imwrite(str(png), cv2.imread(str(freihand_root / 'training' / 'rgb' / '00000007.jpg')))
    (root / 'training' / 'rgb' / '00000007.jpg').unlink()
    with pytest.raises(ValueError, match=r'training/rgb: 00000007.png: FreiHAND images are named %08d.jpg'):
        FreiHandImages(str(root))
    png.unlink()
    cv2.imwrite(str(root / 'training' / 'rgb' / '00000007.jpg'), np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match=r'rgb/00000007.jpg: image is 100x100 but 31 of the 32 images of the '
                                         r'folder are 224x224 \(1 of another size\)'):
        FreiHandImages(str(root))
    with pytest.raises(ValueError, match=r'HandImageFolder: empty dataset: no images found in'):
        HandImageFolder(str(tmp_path / 'empty'))


def test_freihand_counts_files_without_json(freihand_root, tmp_path):
    root = tmp_path / 'fh'
    (root / 'training').mkdir(parents=True)
    os.symlink(freihand_root / 'training' / 'rgb', root / 'training' / 'rgb')
    assert len(FreiHandImages(str(root), versions=('sample',))) == 8
    (root / 'training_K.json').write_text('[[1, 2], ')
    with pytest.raises(ValueError, match='training_K.json: malformed JSON'):
        FreiHandImages(str(root))


def _write_yt3dh(root, n_frames=3, missing=()):
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(n_frames):
        name = f'youtube/vid{i}/video/frames/{i}.png'  # listed as png, stored as jpg (as released)
        images.append(dict(id=100 + i, name=name, width=160, height=120))
        if i not in missing:
            (root / os.path.dirname(name)).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / name.replace('.png', '.jpg')), rng.integers(0, 255, (120, 160, 3), np.uint8))
        verts = np.c_[rng.uniform(40 + i, 90, (778, 1)), rng.uniform(30, 80 - i, (778, 1)), rng.normal(0, 1, (778, 1))]
        anns.append(dict(id=i, image_id=100 + i, is_left=i % 2, vertices=verts.tolist()))
    (root / 'youtube_train.json').write_text(json.dumps(dict(images=images, annotations=anns)))
    return anns


def test_youtube3dhands_boxes_flags_and_missing_frames(tmp_path):
    anns = _write_yt3dh(tmp_path, missing=(1,))
    ds = YouTube3DHands(str(tmp_path), pipeline=LOAD)
    assert len(ds) == 2  # the annotation whose frame is missing is skipped, as the official loader does
    info = ds.get_data_info(1)
    v = np.asarray(anns[2]['vertices'])[:, :2]
    x1, y1, x2, y2 = info['hand_bbox']
    np.testing.assert_allclose([(x1 + x2) / 2, (y1 + y2) / 2], v.mean(0), rtol=1e-5)  # centred on the hand
    radius = np.linalg.norm(v - v.mean(0), axis=1).max()  # official side: 2 x radius x margin
    np.testing.assert_allclose([np.hypot(x2 - x1, y2 - y1), x2 - x1], [2 * radius, y2 - y1], rtol=1e-5)
    assert info['flip_left'] is False and ds.get_data_info(0)['flip_left'] is False
    assert ds[1]['img'].shape == (120, 160, 3)
    _write_yt3dh(tmp_path, n_frames=2)
    assert [YouTube3DHands(str(tmp_path)).get_data_info(i)['flip_left'] for i in range(2)] == [False, True]
    with pytest.raises(ValueError, match='no images found'):
        YouTube3DHands(str(tmp_path / 'youtube'), ann_file=str(tmp_path / 'youtube_train.json'))
    (tmp_path / 'bad.json').write_text(json.dumps(dict(images=[], annotations={})))
    with pytest.raises(ValueError, match='bad.json: field "annotations"'):
        YouTube3DHands(str(tmp_path), ann_file='bad.json')


def test_youtube3dhands_keypoints_from_regressor_or_mesh(tmp_path):
    """With the release's (16, 778) regressor J: the 21 points [J @ V, V[[744, 320, 443, 555, 672]]] (x, y);
    without it, every vertex; in source pixels, unflipped for left hands (flip_left says to mirror)."""
    import torch

    anns = _write_yt3dh(tmp_path)
    rng = np.random.default_rng(1)
    J = rng.random((16, 778)).astype(np.float32)
    J /= J.sum(1, keepdims=True)
    reg = tmp_path / 'mano_mesh_to_joints_mat.pth'
    torch.save(torch.from_numpy(J), reg)
    ds = DATASETS.build(dict(type='YouTube3DHands', data_root=str(tmp_path), joint_regressor=str(reg),
                             pipeline=LOAD))
    assert len(ds) == 3
    for k in range(3):
        V = np.asarray(anns[k]['vertices'])
        expected = np.concatenate([J.astype(np.float64) @ V, V[[744, 320, 443, 555, 672]]])[:, :2]
        info = ds.get_data_info(k)
        assert info['hand_keypoints'].dtype == np.float32 and info['hand_keypoints'].shape == (21, 2)
        np.testing.assert_allclose(info['hand_keypoints'], expected, rtol=1e-5)
        assert info['flip_left'] is bool(k % 2)  # left hands: flagged, keypoints not mirrored
    np.testing.assert_allclose(ds[1]['hand_keypoints'], ds.get_data_info(1)['hand_keypoints'])
    mesh = YouTube3DHands(str(tmp_path))
    for k in range(3):
        kp = mesh.get_data_info(k)['hand_keypoints']
        assert kp.dtype == np.float32 and kp.shape == (778, 2)
        np.testing.assert_allclose(kp, np.asarray(anns[k]['vertices'])[:, :2], rtol=1e-6)
        np.testing.assert_array_equal(mesh.get_data_info(k)['hand_bbox'], ds.get_data_info(k)['hand_bbox'])
    for shape in ((16, 700), (15, 778), (16, 778, 1)):
        bad = tmp_path / f'bad{len(shape)}_{shape[0]}.pth'
        torch.save(torch.zeros(shape), bad)
        with pytest.raises(ValueError) as err:
            YouTube3DHands(str(tmp_path), joint_regressor=str(bad))
        msg = str(err.value)
        assert '\n' not in msg and msg.startswith(f'{bad}: joint regressor has shape {shape}'), msg
        assert '(16, V)' in msg
    wide = tmp_path / 'wide.pth'  # a (16, V) regressor for another mesh than the annotations'
    torch.save(torch.zeros(16, 800), wide)
    with pytest.raises(ValueError, match=r'wide\.pth: joint regressor has shape \(16, 800\) but .*youtube_train'
                                         r'\.json annotations\[0\] has 778 vertices \(needs \(16, 778\)\)'):
        YouTube3DHands(str(tmp_path), joint_regressor=str(wide))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        YouTube3DHands(str(tmp_path), joint_regressor=str(tmp_path / 'missing.pth'))


def test_image_folder_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match='no images found'):
        HandImageFolder(str(tmp_path))
    (tmp_path / 'ok.png').write_bytes(cv2.imencode('.png', np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'broken.jpg').write_bytes(b'not a jpeg')
    ds = HandImageFolder(str(tmp_path), pipeline=LOAD)
    assert len(ds) == 2 and ds[0]['img'].shape == (8, 8, 3)
    with pytest.raises(OSError, match=r'broken\.jpg: not a readable image'):
        ds[1]


def test_unreadable_images_can_be_skipped_and_counted(tmp_path):
    """skip_unreadable=True: a corrupt image in the middle of an epoch is logged and replaced by another
    sample (mmengine's refetch) instead of ending the run; the default still stops with the file's name."""
    import logging

    from mmengine.logging import MMLogger

    for i in range(4):
        cv2.imwrite(str(tmp_path / f'{i}.png'), np.full((8, 8, 3), 40 * i, np.uint8))
    (tmp_path / '2.png').write_bytes(b'truncated')
    ds = HandImageFolder(str(tmp_path), pipeline=[dict(type='LoadHandImage', skip_unreadable=True)])
    logger = MMLogger.get_current_instance()
    seen = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        images = [ds[i]['img'] for i in range(len(ds))]
    finally:
        logger.removeHandler(handler)
    assert len(images) == 4 and all(im.shape == (8, 8, 3) for im in images)
    assert all(int(im[0, 0, 0]) != 80 for im in images)  # the unreadable image was replaced, never returned
    skipped = ds.pipeline.transforms[0].skipped  # >= 1: the random replacement may hit the bad file again
    assert skipped >= 1 and len(seen) == skipped
    assert '2.png: not a readable image (empty or corrupt) (1 skipped in this process)' in seen[0], seen
    strict = HandImageFolder(str(tmp_path), pipeline=LOAD)
    with pytest.raises(OSError, match=r'2\.png: not a readable image'):
        [strict[i] for i in range(len(strict))]


def test_mixed_dataset_weights_and_empty_sources(freihand_root, tmp_path):
    fh = dict(type='FreiHandImages', data_root=str(freihand_root), versions=('gs',), pipeline=LOAD)
    folder = tmp_path / 'folder'
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f'{i}.png'), np.full((8, 8, 3), i, np.uint8))
    other = dict(type='HandImageFolder', data_root=str(folder), pipeline=LOAD)
    cat = MixedHandDataset([fh, other])
    assert len(cat) == 12 and cat[11]['img_path'].endswith('3.png')
    mixed = DATASETS.build(dict(type='MixedHandDataset', datasets=[fh, other], weights=[1, 3], length=4000))
    share = np.mean([mixed.source_of(i) for i in range(len(mixed))])
    assert len(mixed) == 4000 and abs(share - 0.75) < 0.03
    assert mixed[0]['img'].ndim == 3
    with pytest.raises(ValueError, match='weights'):
        MixedHandDataset([fh, other], weights=[1, -1])
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match='no images found'):
        MixedHandDataset([fh, dict(type='HandImageFolder', data_root=str(empty))])
