"""Every pose config (configs/freihand3d, configs/demo td-*) runs in mmpose's ``MMPoseInferencer``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted([*(ROOT / 'configs' / 'freihand3d').glob('td-*.py'),
                  *(ROOT / 'configs' / 'demo').glob('td-*.py')])


@pytest.fixture(scope='module')
def hand_image() -> np.ndarray:
    """One synthetic 64 px hand (BGR), as the pipelines expect from ``LoadImage``."""
    from peclr_lab.synthetic import render_sample
    return render_sample(0, 'evaluation', 0, size=64).images[0]


def test_every_pose_config_is_listed():
    names = [p.name for p in CONFIGS]
    assert len(names) >= 24 and 'td-hm_res50-peclr_8xb64-100e_freihand3d-224x224.py' in names
    assert sum(n.startswith('td-reg25d_res152') for n in names) == 8


@pytest.mark.parametrize('config', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_runs_in_mmpose_inferencer(config, hand_image):
    from mmengine.config import Config
    from mmpose.apis import MMPoseInferencer
    cfg = Config.fromfile(str(config))
    assert cfg.data_mode == 'topdown'
    assert 'collate_fn' not in cfg.test_dataloader  # mmengine's inferencers read a str or nothing there
    inferencer = MMPoseInferencer(pose2d=str(config), pose2d_weights=None, device='cpu')
    assert inferencer.inferencer.detector is None  # FreiHAND crops: the whole image is the hand box
    out = next(inferencer(hand_image, return_datasamples=True))
    sample = out['predictions'][0]
    pred = sample.pred_instances
    assert pred.keypoints.shape == (1, 21, 2) and np.isfinite(pred.keypoints).all()
    np.testing.assert_allclose(pred.bboxes, [[0, 0, 64, 64]])
    if cfg.model.head.type == 'Regression25DHead':
        # no camera and no bone length in an image: TopdownAffine3D's defaults, marked as such
        assert pred.keypoints_cam.shape == (1, 21, 3) and np.isfinite(pred.keypoints_cam).all()
        assert sample.metainfo['K_is_default'] and sample.metainfo['hand_scale_is_default']


def test_inferencer_with_weights_and_visualisation(tmp_path, hand_image):
    """A saved (randomly initialised) checkpoint loads; the inferencer draws and writes its outputs."""
    import torch
    from mmpose.apis import MMPoseInferencer, init_model

    import peclr_mm.pose  # noqa: F401
    config = str(ROOT / 'configs' / 'freihand3d' / 'td-reg25d_res18_1xb8-1e_freihand3d-64x64.py')
    torch.manual_seed(0)
    model = init_model(config, None, device='cpu')
    ckpt = tmp_path / 'random.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=model.dataset_meta)), ckpt)
    inferencer = MMPoseInferencer(pose2d=config, pose2d_weights=str(ckpt), device='cpu')
    out = next(inferencer(hand_image, return_vis=True, vis_out_dir=str(tmp_path / 'vis'),
                          pred_out_dir=str(tmp_path / 'pred')))
    kpts = np.asarray(out['predictions'][0][0]['keypoints'])
    ref = model.test_step(_batch(model, hand_image))[0].pred_instances.keypoints[0]
    np.testing.assert_allclose(kpts, ref, rtol=1e-5, atol=1e-4)  # the checkpoint's weights were used
    assert out['visualization'][0].shape == (64, 64, 3)
    assert len(list((tmp_path / 'vis').iterdir())) == 1 and len(list((tmp_path / 'pred').iterdir())) == 1


def _batch(model, image):
    from mmengine.dataset import Compose, pseudo_collate
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    info = dict(img=image, bbox=np.array([[0, 0, 64, 64]], np.float32), bbox_score=np.ones(1, np.float32))
    return pseudo_collate([pipeline(dict(info, **model.dataset_meta))])
