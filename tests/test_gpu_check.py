"""tools/gpu_check.py: the GPU path's options build the paper configs, its measurements and report, and the
whole check end to end on the CPU (``--tiny``), so it keeps working between GPU leases."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from peclr_lab.experiments import gpu_check as g

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_options_turn_the_paper_configs_into_a_short_run(tmp_path):
    cfgs = g.configs()
    assert cfgs['peclr'].name == 'peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py'
    assert cfgs['simclr'].name == 'simclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py'
    assert cfgs['finetune'].name == 'td-reg25d_res50-peclr_8xb64-100e_freihand3d-224x224.py'
    fh, yt, bb = tmp_path / 'fh', tmp_path / 'yt', tmp_path / 'backbone.pth'
    for algo in ('peclr', 'simclr'):
        c = g.merged_config(cfgs[algo], g.pretrain_options(g.GPU, fh, yt, cfgs[algo]))
        assert dict(c.train_cfg) == dict(type='IterBasedTrainLoop', max_iters=g.GPU.pretrain_iters)
        # the release's optimiser, accumulation and fp16 AMP, untouched; random init (no download there)
        assert c.optim_wrapper.type == 'AmpOptimWrapper' and c.optim_wrapper.dtype == 'float16'
        assert c.optim_wrapper.optimizer.type == 'LARSAdam' and c.optim_wrapper.accumulative_counts == 16
        assert c.model.backbone.init_cfg is None and c.model.mode == 'official'
        assert c.train_dataloader.batch_size == 128 and c.train_dataloader.num_workers == 8
        assert c.train_dataloader.sampler.type == 'SourceBalancedSampler'
        tiny = g.merged_config(cfgs[algo], g.pretrain_options(g.TINY, fh, yt, cfgs[algo]))
        assert tiny.optim_wrapper == dict(type='OptimWrapper', accumulative_counts=16,
                                          constructor='ReleaseWeightDecayConstructor',
                                          optimizer=c.optim_wrapper.optimizer)
        assert [d['data_root'] for d in c.train_dataloader.dataset.datasets] == [f'{fh}/', f'{yt}/']
        assert c.model.backbone.depth == 50 and c.model.backbone.norm_cfg.type == 'SyncBN'
        assert c.env_cfg.dist_cfg.backend == 'nccl' and c.env_cfg.cudnn_benchmark is True
        assert tuple(c.model.undo) == (('rotate', 'translate') if algo == 'peclr' else ())
        assert c.default_hooks.logger.interval == c.log_processor.window_size == g.GPU.window
    c = g.merged_config(cfgs['finetune'], g.finetune_options(g.GPU, fh, bb))
    assert dict(c.train_cfg) == dict(type='IterBasedTrainLoop', max_iters=g.GPU.finetune_iters,
                                     val_interval=g.GPU.finetune_iters)
    assert c.optim_wrapper.type == 'AmpOptimWrapper' and c.optim_wrapper.optimizer.type == 'Adam'
    assert c.model.backbone.init_cfg.checkpoint == str(bb) and c.model.backbone.depth == 50
    assert c.train_dataloader.batch_size == 64 and tuple(c.codec.input_size) == (224, 224)
    for split in ('train', 'val', 'test'):
        assert c[f'{split}_dataloader'].dataset.data_root == f'{fh}/'
    assert g.merged_config(cfgs['peclr'], []).model.backbone.depth == 50  # no options: the config as it is
    scratch = g.merged_config(cfgs['finetune'], g.finetune_options(g.GPU, fh, None))
    assert scratch.model.backbone.init_cfg.checkpoint == 'checkpoints/peclr_res50_backbone.pth'  # not overridden
    opts = g.finetune_options(g.GPU, fh, bb)
    cmd = g.torchrun(Path('train.py'), cfgs['peclr'], tmp_path, opts)
    assert cmd[1:4] == ['-m', 'torch.distributed.run', '--standalone'] and '--launcher' in cmd


def test_gpu_mode_pretraining_data_model_and_optimiser_build(tmp_path, freihand_root, monkeypatch):
    """What the GPU run's train.py builds first: the mixed FreiHAND + synthetic YouTube3DHands dataset with the
    release's two-view pipeline, the ResNet-50 PeCLR model and the fp16 AmpOptimWrapper around LARS-Adam (on
    the CPU here, mmengine's CUDA check patched)."""
    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS, MODELS

    import peclr_mm.selfsup  # noqa: F401
    init_default_scope('mmpretrain')
    yt = g.write_yt3dh(freihand_root, tmp_path / 'yt3dh')
    opts = g.pretrain_options(g.GPU, freihand_root, yt, g.configs()['peclr'])
    ds = DATASETS.build(g.config_value(g.configs()['peclr'], opts, 'train_dataloader.dataset'))
    assert len(ds) == 8 * 4 + 4
    item = ds[len(ds) - 1]  # a YouTube3DHands frame
    assert [tuple(v.shape) for v in item['inputs']] == [(3, 128, 128)] * 2
    assert tuple(item['data_samples'].aug_norm.shape) == (2, 3, 3)
    cfg = g.merged_config(g.configs()['peclr'], opts)
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.backbone.parameters()) > 23e6  # ResNet-50
    assert isinstance(model.backbone.norm1, torch.nn.SyncBatchNorm)
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp
    from mmengine.optim import build_optim_wrapper
    monkeypatch.setattr(amp, 'is_cuda_available', lambda: True)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(wrapper).__name__ == 'AmpOptimWrapper' and wrapper.cast_dtype == torch.float16
    assert type(wrapper.optimizer).__name__ == 'LARSAdam'


def test_synthetic_yt3dh_reads_back(tmp_path, freihand_root):
    import numpy as np

    import peclr_mm.selfsup  # noqa: F401
    from peclr_mm.selfsup.hand_datasets import YouTube3DHands
    yt = g.write_yt3dh(freihand_root, tmp_path / 'yt3dh')
    ds = YouTube3DHands(str(yt), ann_file='youtube_train.json')
    assert len(ds) == 4
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['flip_left'] for i in infos] == [False, True, False, True]
    for info in infos:  # a square around the projected hand, centred in the image (it may reach past its edge)
        x1, y1, x2, y2 = info['hand_bbox']
        assert np.isfinite(info['hand_bbox']).all() and x2 - x1 == pytest.approx(y2 - y1) and x2 > x1 + 10
        assert 0 < (x1 + x2) / 2 < 224 and 0 < (y1 + y2) / 2 < 224


def test_throughput_leaves_out_the_warmup():
    recs = [dict(step=s, time=1.0 if s <= 20 else 0.5, data_time=0.2 if s <= 20 else 0.05, loss=6.0 - s / 100,
                 memory=1000 + s) for s in range(10, 101, 10)]
    t = g.throughput(recs, batch=128, warmup_steps=20)
    assert t['first_steady_step'] == 30 and t['steady_records'] == 8 and t['last_step'] == 100
    assert t['images_per_s'] == 256.0 and t['loader_share'] == pytest.approx(0.1)
    assert t['loss_first'] == pytest.approx(5.9) and t['loss_last'] == pytest.approx(5.0) and t['losses_finite']
    assert t['max_memory_mib'] == 1100
    assert g.throughput(recs[:2], batch=4, warmup_steps=50)['steady_records'] == 2  # too short: all of it
    recs[-1]['loss'] = float('nan')
    assert not g.throughput(recs, batch=128, warmup_steps=20)['losses_finite']
    with pytest.raises(ValueError):
        g.throughput([], batch=1, warmup_steps=0)
    run = g.StageRun('x', iter_times={10: 100.0, 20: 101.0, 30: 102.0})
    assert g.wall_throughput(run, batch=64, warmup_steps=10) == 640.0


def test_nvidia_smi_samples():
    assert g.parse_smi_line('87, 14230\n') == (87.0, 14230.0)
    assert g.parse_smi_line('[N/A], 1') is None and g.parse_smi_line('') is None
    s = g.gpu_stats([(0.0, 80.0, 100.0), (0.5, 100.0, 300.0), (1.0, 90.0, 200.0)])
    assert s == dict(util_mean=90.0, util_median=90.0, util_min=80.0, mem_used_mib_max=300.0, samples=3)
    assert g.gpu_stats([]) is None


def test_report_of_a_partial_run(tmp_path):
    res = dict(date='2026-11-27T10:00:00+00:00', mode='gpu', environment=dict(gpu='NVIDIA H100 80GB HBM3'),
               runs=dict(peclr=dict(last_step=300, batch=128, images_per_s=900.0, s_per_iter=0.142,
                                    loader_share=0.03, gpu=dict(util_mean=95.0, mem_used_mib_max=20000),
                                    max_memory_mib=18000, loss_first=6.1, loss_last=5.2, wall_s=80.0),
                         simclr=dict(status='skipped: budget')),
               errors=['simclr: skipped, the budget is spent'], ok=False)
    res['checks'] = g.checks(res)
    assert not any(res['checks'].values())  # peclr has no losses_finite/ok here: not counted as a pass
    md = g.markdown(res)
    assert 'NVIDIA H100 80GB HBM3' in md and '| PeCLR pretrain | 300 | 128 | 900.0 | 0.142 | 3.0 % | 95 % | 18000 | 20000 |' in md
    assert 'skipped: budget' in md and 'Overall: FAIL' in md
    g.write_results(res, tmp_path)
    assert json.loads((tmp_path / g.RESULT_JSON).read_text())['runs']['peclr']['images_per_s'] == 900.0


def test_numpy_compat_keypoint_circles_take_a_0d_radius():
    """numpy 2.5 (the GPU image's) refuses int() of a (1,) array, which mmpose 1.3.2's OpenCV backend does with
    every keypoint radius; numpy 2.2 only warns: as an error here, the patched drawing must not trigger it."""
    import warnings

    import numpy as np
    from mmpose.visualization import PoseLocalVisualizer

    from peclr_mm.pose import numpy_compat
    numpy_compat.patch_mmpose_visualizer()
    numpy_compat.patch_mmpose_visualizer()  # idempotent
    vis = PoseLocalVisualizer(name='numpy_compat_test', radius=3)
    vis.set_image(np.zeros((20, 20, 3), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter('error', DeprecationWarning)
        vis.draw_circles(np.array([10, 10]), radius=np.array([3]), face_colors=(0, 0, 255), alpha=1.0)
    img = vis.get_image()
    assert img[10, 10].tolist() == [0, 0, 255] and not img[0, 0].any()


@pytest.mark.slow
def test_tiny_check_end_to_end(tmp_path):
    """The whole check on the CPU: synthetic data, numerics (gloo), PeCLR / SimCLR pretraining and the
    fine-tuning through upstream train.py under torchrun, export, test.py with FreiHandMetric, the report."""
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'gpu_check.py'), '--tiny', '--wheelhouse', 'none',
                           '--work-dir', str(tmp_path / 'work'), '--out', str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    res = json.loads((out / g.RESULT_JSON).read_text())
    assert res['ok'] and all(res['checks'].values()), res['checks']
    assert res['mode'] == 'tiny' and res['numerics']['backend_seen'] == 'gloo'
    for key in ('peclr', 'simclr', 'finetune'):
        run = res['runs'][key]
        assert run['images_per_s'] > 0 and 0 <= run['loader_share'] <= 1 and run['losses_finite'], run
    assert res['peclr_over_simclr'] > 0
    assert res['runs']['finetune']['backbone_loaded_cleanly'] and res['runs']['test']['pred_json']
    assert set(res['test_metrics']) >= {'EPE', 'PA-EPE', 'AUC', 'PA-AUC'}
    assert all(math.isfinite(v) for v in res['test_metrics'].values())
    assert 'Overall: PASS' in (out / g.RESULT_MD).read_text()
    with tarfile.open(out / g.RESULT_LOGS) as tar:
        names = tar.getnames()
    assert {'logs/numerics.log', 'logs/pretrain_peclr.log', 'logs/finetune.log', 'logs/test.log'} <= set(names)
