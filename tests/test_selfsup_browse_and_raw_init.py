"""OpenMMLab entry points on the PeCLR configs: mmpretrain's browse_dataset.py shows every pipeline step (our
views and the release's), and fine-tuning starts from a raw mmpretrain pretraining checkpoint through
``init_cfg`` (prefix ``backbone.``) without the export step."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mmpretrain
import pytest
import torch
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
BROWSE = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / 'visualization' / 'browse_dataset.py'
TINY_PRETRAIN = ROOT / 'configs' / 'peclr' / 'peclr_resnet18_1xb4-4it_freihand-64px.py'
RELEASE_FH = ROOT / 'configs' / 'peclr' / 'peclr_resnet50_1xb128-accum16-amp-100e_freihand-128px.py'
TINY_POSE = ROOT / 'configs' / 'freihand3d' / 'td-reg25d_res18_1xb8-1e_freihand3d-64x64.py'


@pytest.mark.parametrize('config, root_key', [(TINY_PRETRAIN, 'train_dataloader.dataset.data_root'),
                                              (RELEASE_FH, 'train_dataloader.dataset.datasets.0.data_root')],
                         ids=['tracked-views', 'release-views'])
def test_browse_dataset_shows_every_step(freihand_root, tmp_path, config, root_key):
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, str(BROWSE), str(config), '-o', str(out), '-n', '2', '-m', 'pipeline',
                           '--cfg-options', f'{root_key}={freihand_root}'], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, MPLBACKEND='Agg'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ['00000000.jpg', '00000001.jpg']


def test_finetuning_starts_from_a_raw_pretraining_checkpoint(tmp_path):
    """The mmpretrain checkpoint as the Runner saves it ({'state_dict': backbone.*, neck.*, ...}) goes straight
    into a fine-tuning config's init_cfg (prefix 'backbone.'): every backbone tensor equal."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS as POSE_MODELS
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS

    import peclr_mm.pose  # noqa: F401
    import peclr_mm.selfsup  # noqa: F401

    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    pretrain = PRETRAIN_MODELS.build(Config.fromfile(str(TINY_PRETRAIN)).model)
    ckpt = tmp_path / 'iter_4.pth'
    torch.save(dict(state_dict=pretrain.state_dict(), meta=dict(iter=4)), ckpt)
    cfg = Config.fromfile(str(TINY_POSE))
    cfg.model.backbone.init_cfg = dict(type='Pretrained', prefix='backbone.', checkpoint=str(ckpt))
    init_default_scope('mmpose')
    pose = POSE_MODELS.build(cfg.model)
    pose.init_weights()
    theirs = {k[len('backbone.'):]: v for k, v in pretrain.state_dict().items() if k.startswith('backbone.')}
    ours = pose.backbone.state_dict()
    assert set(theirs) == set(ours)
    for k, v in theirs.items():
        assert torch.equal(ours[k], v), k
