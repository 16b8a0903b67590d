"""End to end: upstream mmpose train.py on the tiny config, a Codalab dump from the test split, configs,
PeCLR backbone checkpoints through init_cfg, and the stock HeatmapHead on this dataset."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

import peclr_mm.pose  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / 'configs' / 'freihand3d' / 'td-reg25d_res18_1xb8-1e_freihand3d-64x64.py'


def _data_options(root: Path) -> list[str]:
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]


@pytest.fixture(scope='module')
def trained(freihand_root, tmp_path_factory):
    """Run mmpose's own tools/train.py (as a user would) on the tiny config for one epoch."""
    import mmpose
    train_py = Path(mmpose.__file__).parent / '.mim' / 'tools' / 'train.py'
    work = tmp_path_factory.mktemp('work')
    proc = subprocess.run([sys.executable, str(train_py), str(TINY), '--work-dir', str(work),
                           '--cfg-options', *_data_options(freihand_root)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


@pytest.mark.slow
def test_upstream_train_and_validation(trained):
    assert (trained / 'epoch_1.pth').is_file()
    assert list(trained.glob('best_freihand_PA-EPE_epoch_1.pth'))
    scalars = [json.loads(line) for line in next(trained.rglob('scalars.json')).read_text().splitlines()]
    train = [s for s in scalars if 'loss_uv' in s]
    val = [s for s in scalars if 'freihand/PA-EPE' in s]
    assert len(train) == 3 and all(np.isfinite(s['loss']) and 'loss_root' in s for s in train)
    assert len(val) == 1
    for key in ('EPE', 'PA-EPE', 'AUC', 'PA-AUC', 'kp-F@5mm', 'kp-F@15mm', 'kp-PA-F@5mm', 'kp-PA-F@15mm'):
        assert np.isfinite(val[0][f'freihand/{key}'])
    assert 0 < val[0]['freihand/PA-EPE'] < val[0]['freihand/EPE']


@pytest.mark.slow
def test_checkpoint_tests_on_evaluation_split_and_dumps_codalab_json(trained, freihand_root, tmp_path):
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(TINY))
    cfg.merge_from_dict({f'{s}_dataloader.dataset.data_root': str(freihand_root) for s in ('train', 'val', 'test')})
    pred_json = tmp_path / 'sub' / 'pred.json'
    cfg.test_evaluator = dict(type='FreiHandMetric', pred_json=str(pred_json))
    cfg.work_dir = str(tmp_path / 'test')
    cfg.load_from = str(trained / 'epoch_1.pth')  # safe loading (weights_only) of an mmengine checkpoint
    metrics = Runner.from_cfg(cfg).test()
    xyz, verts = json.loads(pred_json.read_text())
    assert np.array(xyz).shape == (4, 21, 3) and np.array(verts).shape == (4, 778, 3)
    assert np.isfinite(xyz).all()
    # the offline scorer reads the dump and agrees with the metric (cm vs mm)
    from peclr_mm.freihand.scorer import evaluate_files
    scores, _ = evaluate_files(pred_json, freihand_root)
    assert scores['xyz_mean3d'] * 10 == pytest.approx(metrics['freihand/EPE'], rel=1e-9)
    assert scores['xyz_al_mean3d'] * 10 == pytest.approx(metrics['freihand/PA-EPE'], rel=1e-9)
    assert scores['xyz_al_auc3d'] == pytest.approx(metrics['freihand/PA-AUC'], rel=1e-9)


def test_peclr_backbone_checkpoint_loads_through_init_cfg(tmp_path):
    """A PeCLR backbone file: {'state_dict': {'backbone.<mmpretrain ResNet key>': ...}}."""
    from mmpose.registry import MODELS
    from mmpretrain.models import ResNet as PretrainResNet
    torch.manual_seed(0)
    src = PretrainResNet(depth=18)
    for m in src.modules():  # make running statistics non-default so that loading them is visible
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    sd = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    ckpt = tmp_path / 'peclr_res18_backbone.pth'
    torch.save({'state_dict': sd, 'meta': {'epoch': np.int64(100)}}, ckpt)
    cfg = Config.fromfile(str(TINY))
    cfg.model.backbone.init_cfg = dict(type='Pretrained', prefix='backbone.', checkpoint=str(ckpt))
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = model.backbone.state_dict()
    assert set(loaded) == {k[len('backbone.'):] for k in sd}  # no missing and no unexpected keys
    for k, v in loaded.items():
        assert torch.equal(v, sd[f'backbone.{k}']), k


def test_all_configs_are_openmmlab_style():
    names = sorted(p.name for p in (ROOT / 'configs' / 'freihand3d').glob('*.py'))
    assert 'td-reg25d_res50_8xb64-100e_freihand3d-224x224.py' in names
    assert 'td-hm_res50-peclr_8xb64-100e_freihand3d-224x224.py' in names
    for depth in (50, 152):
        for init in ('', '-imagenet', '-simclr', '-peclr'):
            for lf in ('', '-10pct'):
                assert f'td-reg25d_res{depth}{init}_8xb64-100e_freihand3d{lf}-224x224.py' in names
    for name in names:
        cfg = Config.fromfile(str(ROOT / 'configs' / 'freihand3d' / name))
        assert cfg.custom_imports == dict(imports=['peclr_mm.pose'], allow_failed_imports=False), name
        for split in ('train', 'val', 'test'):
            loader = cfg[f'{split}_dataloader']
            assert 'collate_fn' not in loader, name  # the Runner's default (pseudo_collate); inferencers need it absent
            assert loader.dataset.type == 'FreiHand3DDataset' and loader.dataset.split == split, name
        init = cfg.model.backbone.get('init_cfg')
        if '-peclr' in name or '-simclr' in name:
            assert init.type == 'Pretrained' and init.prefix == 'backbone.', name
        elif '-imagenet' in name:
            assert init.checkpoint.startswith('torchvision://resnet'), name
        else:
            assert init is None, name
        assert cfg.train_dataloader.dataset.get('label_fraction', 1.0) == (0.1 if '10pct' in name else 1.0)
        if cfg.model.backbone.type == 'ResNet':  # the others: tests/test_other_backbones.py
            assert cfg.model.backbone.depth == (152 if 'res152' in name else 18 if 'res18' in name else 50)


def test_stock_heatmap_head_on_this_dataset(freihand_root):
    """mmpose's HeatmapHead + MSRAHeatmap + 2-D metrics on FreiHand3DDataset with its transforms."""
    from mmengine.dataset import pseudo_collate
    from mmpose.registry import DATASETS, METRICS, MODELS
    cfg = Config.fromfile(str(ROOT / 'configs' / 'freihand3d' / 'td-hm_res50-peclr_8xb64-100e_freihand3d-224x224.py'))
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.depth = 18  # keep the CPU test small; the head is the point
    cfg.model.head.in_channels = 512
    model = MODELS.build(cfg.model).eval()
    for split, mode in (('train', 'loss'), ('test', 'predict')):
        ds_cfg = dict(cfg[f'{split}_dataloader'].dataset, data_root=str(freihand_root))
        ds = DATASETS.build(ds_cfg)
        batch = model.data_preprocessor(pseudo_collate([ds[0], ds[1]]), training=mode == 'loss')
        with torch.no_grad():
            out = model(**batch, mode=mode)
        if mode == 'loss':
            assert torch.isfinite(out['loss_kpt'])
    metrics = [METRICS.build(m) for m in cfg.test_evaluator]
    for m in metrics:
        m.dataset_meta = ds.metainfo
        m.process([], [o.to_dict() for o in out])
        res = m.evaluate(2)
        assert all(np.isfinite(v) for v in res.values())
    assert out[0].pred_instances.keypoints.shape == (1, 21, 2)
