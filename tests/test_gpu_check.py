"""tools/gpu_check.py: the GPU path's options build the paper configs, its measurements and report, and the
whole check end to end on the CPU (``--tiny``), so it keeps working between GPU leases."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from peclr_lab.config_options import config_value, merged_config
from peclr_lab.gpu_check import data, device, measure, options, report
from peclr_lab.gpu_check.sizes import GPU, TINY
from peclr_lab.runner import Run

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_options_turn_the_paper_configs_into_a_short_run(tmp_path):
    cfgs = options.configs()
    assert cfgs['peclr'].name == 'peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py'
    assert cfgs['simclr'].name == 'simclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py'
    assert cfgs['finetune'].name == 'td-reg25d_res50-peclr_8xb64-100e_freihand3d-224x224.py'
    fh, yt, bb = tmp_path / 'fh', tmp_path / 'yt', tmp_path / 'backbone.pth'
    for algo in ('peclr', 'simclr'):
        c = merged_config(cfgs[algo], options.pretrain_options(GPU, fh, yt, cfgs[algo]))
        assert dict(c.train_cfg) == dict(type='IterBasedTrainLoop', max_iters=GPU.pretrain_iters)
        # the release's optimiser, accumulation and fp16 AMP, untouched; random init (no download there)
        assert c.optim_wrapper.type == 'AmpOptimWrapper' and c.optim_wrapper.dtype == 'float16'
        assert c.optim_wrapper.optimizer.type == 'LARSAdam' and c.optim_wrapper.accumulative_counts == 16
        assert c.model.backbone.init_cfg is None and c.model.mode == 'official'
        assert c.train_dataloader.batch_size == 128 and c.train_dataloader.num_workers == 8
        assert c.train_dataloader.sampler.type == 'SourceBalancedSampler'
        tiny = merged_config(cfgs[algo], options.pretrain_options(TINY, fh, yt, cfgs[algo]))
        assert tiny.optim_wrapper == dict(type='OptimWrapper', accumulative_counts=16,
                                          constructor='ReleaseWeightDecayConstructor',
                                          optimizer=c.optim_wrapper.optimizer)
        assert [d['data_root'] for d in c.train_dataloader.dataset.datasets] == [f'{fh}/', f'{yt}/']
        assert c.model.backbone.depth == 50 and c.model.backbone.norm_cfg.type == 'SyncBN'
        assert c.env_cfg.dist_cfg.backend == 'nccl' and c.env_cfg.cudnn_benchmark is True
        assert tuple(c.model.undo) == (('rotate', 'translate') if algo == 'peclr' else ())
        assert c.default_hooks.logger.interval == c.log_processor.window_size == GPU.window
    c = merged_config(cfgs['finetune'], options.finetune_options(GPU, fh, bb))
    assert dict(c.train_cfg) == dict(type='IterBasedTrainLoop', max_iters=GPU.finetune_iters,
                                     val_interval=GPU.finetune_iters)
    assert c.optim_wrapper.type == 'AmpOptimWrapper' and c.optim_wrapper.optimizer.type == 'Adam'
    assert c.model.backbone.init_cfg.checkpoint == str(bb) and c.model.backbone.depth == 50
    assert c.train_dataloader.batch_size == 64 and tuple(c.codec.input_size) == (224, 224)
    for split in ('train', 'val', 'test'):
        assert c[f'{split}_dataloader'].dataset.data_root == f'{fh}/'
    assert merged_config(cfgs['peclr'], []).model.backbone.depth == 50  # no options: the config as it is
    scratch = merged_config(cfgs['finetune'], options.finetune_options(GPU, fh, None))
    assert scratch.model.backbone.init_cfg.checkpoint == 'checkpoints/peclr_res50_backbone.pth'  # not overridden
    opts = options.finetune_options(GPU, fh, bb)
    cmd = options.torchrun(Path('train.py'), cfgs['peclr'], tmp_path, opts)
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
    yt = data.write_yt3dh(freihand_root, tmp_path / 'yt3dh')
    opts = options.pretrain_options(GPU, freihand_root, yt, options.configs()['peclr'])
    ds = DATASETS.build(config_value(options.configs()['peclr'], opts, 'train_dataloader.dataset'))
    assert len(ds) == 8 * 4 + 4
    item = ds[len(ds) - 1]  # a YouTube3DHands frame
    assert [tuple(v.shape) for v in item['inputs']] == [(3, 128, 128)] * 2
    assert tuple(item['data_samples'].aug_norm.shape) == (2, 3, 3)
    cfg = merged_config(options.configs()['peclr'], opts)
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
    yt = data.write_yt3dh(freihand_root, tmp_path / 'yt3dh')
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
    t = measure.throughput(recs, batch=128, warmup_steps=20)
    assert t['first_steady_step'] == 30 and t['steady_records'] == 8 and t['last_step'] == 100
    assert t['images_per_s'] == 256.0 and t['loader_share'] == pytest.approx(0.1)
    assert t['loss_first'] == pytest.approx(5.9) and t['loss_last'] == pytest.approx(5.0) and t['losses_finite']
    assert t['max_memory_mib'] == 1100
    assert measure.throughput(recs[:2], batch=4, warmup_steps=50)['steady_records'] == 2  # too short: all of it
    recs[-1]['loss'] = float('nan')
    assert not measure.throughput(recs, batch=128, warmup_steps=20)['losses_finite']
    with pytest.raises(ValueError):
        measure.throughput([], batch=1, warmup_steps=0)
    run = Run('x', iter_times={10: 100.0, 20: 101.0, 30: 102.0})
    assert measure.wall_throughput(run, batch=64, warmup_steps=10) == 640.0


def test_nvidia_smi_samples():
    assert device.parse_smi_line('87, 14230\n') == (87.0, 14230.0)
    assert device.parse_smi_line('[N/A], 1') is None and device.parse_smi_line('') is None
    s = device.gpu_stats([(0.0, 80.0, 100.0), (0.5, 100.0, 300.0), (1.0, 90.0, 200.0)])
    assert s == dict(util_mean=90.0, util_median=90.0, util_min=80.0, mem_used_mib_max=300.0, samples=3)
    assert device.gpu_stats([]) is None


def test_report_of_a_partial_run(tmp_path):
    res = dict(date='2026-11-27T10:00:00+00:00', mode='gpu', environment=dict(gpu='NVIDIA H100 80GB HBM3'),
               runs=dict(peclr=dict(last_step=300, batch=128, images_per_s=900.0, s_per_iter=0.142,
                                    loader_share=0.03, gpu=dict(util_mean=95.0, mem_used_mib_max=20000),
                                    max_memory_mib=18000, loss_first=6.1, loss_last=5.2, wall_s=80.0),
                         simclr=dict(status='skipped: budget')),
               errors=['simclr: skipped, the budget is spent'], ok=False)
    res['checks'] = measure.checks(res)
    assert not any(res['checks'].values())  # peclr has no losses_finite/ok here: not counted as a pass
    md = report.markdown(res)
    assert 'NVIDIA H100 80GB HBM3' in md and '| PeCLR pretrain | 300 | 128 | 900.0 | 0.142 | 3.0 % | 95 % | 18000 | 20000 |' in md
    assert 'skipped: budget' in md and 'Overall: FAIL' in md
    report.write_results(res, tmp_path)
    assert json.loads((tmp_path / report.RESULT_JSON).read_text())['runs']['peclr']['images_per_s'] == 900.0


@pytest.mark.slow
def test_tiny_check_end_to_end(tmp_path):
    """The whole check on the CPU: synthetic data, numerics (gloo), PeCLR / SimCLR pretraining and the
    fine-tuning through upstream train.py under torchrun, export, test.py with FreiHandMetric, the report."""
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / 'tools')]), OMP_NUM_THREADS='1')  # as docs/gpu.md
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'gpu_check.py'), '--tiny', '--wheelhouse', 'none',
                           '--work-dir', str(tmp_path / 'work'), '--out', str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    res = json.loads((out / report.RESULT_JSON).read_text())
    assert res['ok'] and all(res['checks'].values()), res['checks']
    assert res['mode'] == 'tiny' and res['numerics']['backend_seen'] == 'gloo'
    for key in ('peclr', 'simclr', 'finetune'):
        run = res['runs'][key]
        assert run['images_per_s'] > 0 and 0 <= run['loader_share'] <= 1 and run['losses_finite'], run
    assert res['peclr_over_simclr'] > 0
    assert res['runs']['finetune']['backbone_loaded_cleanly'] and res['runs']['test']['pred_json']
    assert set(res['test_metrics']) >= {'EPE', 'PA-EPE', 'AUC', 'PA-AUC'}
    assert all(math.isfinite(v) for v in res['test_metrics'].values())
    assert 'Overall: PASS' in (out / report.RESULT_MD).read_text()
    with tarfile.open(out / report.RESULT_LOGS) as tar:
        names = tar.getnames()
    assert {'logs/numerics.log', 'logs/pretrain_peclr.log', 'logs/finetune.log', 'logs/test.log'} <= set(names)


def test_wheelhouse_site_is_importable_here_and_in_children(tmp_path, monkeypatch):
    """What the check does after ``pip install --target``: the folder (with a ``.pth`` of its own, as wheels
    such as mmcv's can carry) becomes a site folder of this process and is first on the children's path."""
    from peclr_lab.gpu_check import wheelhouse
    site_dir = tmp_path / 'site'
    (site_dir / 'extra').mkdir(parents=True)
    (site_dir / 'peclr_wheel_probe.py').write_text('VALUE = 7\n')
    (site_dir / 'extra' / 'peclr_pth_probe.py').write_text('VALUE = 11\n')
    (site_dir / 'probe.pth').write_text('extra\n')
    monkeypatch.setattr(sys, 'path', list(sys.path))
    monkeypatch.setenv('PYTHONPATH', 'elsewhere')
    wheelhouse.activate_site(site_dir)
    assert os.environ['PYTHONPATH'].split(os.pathsep) == [str(site_dir), 'elsewhere']
    child = subprocess.run([sys.executable, '-c', 'import peclr_wheel_probe as m; print(m.VALUE)'],
                           capture_output=True, text=True, env=dict(os.environ))
    assert child.stdout.strip() == '7', child.stderr
    import importlib
    assert importlib.import_module('peclr_pth_probe').VALUE == 11  # the folder's .pth ran here
    sys.modules.pop('peclr_pth_probe', None)


def test_no_tool_changes_the_import_path():
    """One way onto the import path (the clone's .venv, or PYTHONPATH on the GPU machine): no script or module
    under tools/ inserts into or appends to sys.path."""
    offenders = [f'{p.relative_to(ROOT)}:{n}' for p in sorted((ROOT / 'tools').rglob('*.py'))
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r'\bsys\.path\s*(\.\w|\[|\+=|=[^=])', line)]
    assert not offenders, offenders
