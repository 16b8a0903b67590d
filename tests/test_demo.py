"""`make demo QUICK=1` end to end (real Runners through upstream tools), its resume path, and the dry run of
`tools/reproduce.py` (every printed config loads and every option applies)."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
ROW = re.compile(r'^\| (scratch|SimCLR|PeCLR) \| (10|100) % \|(.*)\|\s*$')


def _png_ok(path: Path) -> None:
    import cv2
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100, path
    assert img.std() > 1.0, f'{path} is blank'


@pytest.fixture(scope='module')
def quick_demo(tmp_path_factory):
    work = tmp_path_factory.mktemp('demo')
    env = dict(os.environ)
    env.pop('MAKEFLAGS', None)
    proc = subprocess.run(['make', 'demo', 'QUICK=1', f'DEMO_ARGS=--work-dir {work}'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return work, proc.stdout


@pytest.mark.slow
def test_make_demo_quick_writes_table_plots_and_pictures(quick_demo):
    work, log = quick_demo
    # progress of the long stages is shown
    assert re.search(r'\[pretrain/peclr\] train \d+/\d+ loss', log)
    assert re.search(r'\[finetune/peclr_10pct\] train \d+/\d+ loss', log)

    md = (work / 'results.md').read_text()
    rows = [ROW.match(line) for line in md.splitlines()]
    rows = [m for m in rows if m]
    assert sorted((m.group(1), m.group(2)) for m in rows) == sorted(
        (i, f) for i in ('scratch', 'SimCLR', 'PeCLR') for f in ('10', '100'))
    for m in rows:
        cells = [float(c) for c in m.group(3).split('|')]
        assert len(cells) == 5 and all(math.isfinite(c) for c in cells)
        epe, pa_epe, auc, pa_auc, wall = cells
        assert epe > 0 and pa_epe > 0 and 0 <= auc <= 1 and 0 <= pa_auc <= 1 and wall > 0
    assert 'seed **0**' in md and 'sum of stages' in md
    # the linear probe of every initialisation and the equivariance monitor of both pretraining runs
    for init in ('scratch', 'simclr', 'peclr'):
        probe = json.loads((work / 'probe' / init / 'probe.json').read_text())
        assert math.isfinite(probe['probe']['uv_px']) and math.isfinite(probe['mean_pose']['uv_px'])
        name = 'random weights' if init == 'scratch' else {'simclr': 'SimCLR', 'peclr': 'PeCLR'}[init]
        assert f'| {name} | {probe["probe"]["uv_px"]:.2f} |' in md
    assert '## Equivariance of the pretraining projection' in md and (work / 'equivariance.png').stat().st_size
    for algo in ('simclr', 'peclr'):
        recs = json.loads((work / 'results.json').read_text())['equivariance'][algo]
        assert recs[-1]['step'] > 0 and all(-2 <= r['eval_gap'] <= 2 for r in recs)

    res = json.loads((work / 'results.json').read_text())
    assert len(res['results']) == 6
    # the table shows FreiHandMetric's numbers from tools/test.py (metrics.json), unchanged
    for r in res['results']:
        name = f'{r["init"]}_{round(r["label_fraction"] * 100)}pct'
        metrics = json.loads((work / 'finetune' / name / 'metrics.json').read_text())['metrics']
        assert r['PA-EPE'] == metrics['PA-EPE'] and r['EPE'] == metrics['EPE']
        assert f'| {r["EPE"]:.2f} | {r["PA-EPE"]:.2f} |' in md
    # the PCK curves come from pred.json with the numpy core, and reproduce the metric's AUC
    for name, c in res['pck'].items():
        r = next(x for x in res['results'] if f'{x["init"]}_{round(x["label_fraction"] * 100)}pct' == name)
        t = np.asarray(c['thresholds_mm'])
        assert np.trapezoid(c['pck_aligned'], t) / (t[-1] - t[0]) == pytest.approx(r['PA-AUC'], abs=1e-9)
        assert np.all(np.diff(c['pck']) >= 0)

    # equal pretraining budget: same iterations for PeCLR and SimCLR, and the real SimCLR model
    for algo in ('peclr', 'simclr'):
        cmd = json.loads((work / 'pretrain' / algo / 'stage.json').read_text())['cmd']
        assert f'train_cfg.max_iters={res["settings"]["pretrain_iters"]}' in cmd
    assert Config.fromfile(ROOT / 'configs/demo/simclr_resnet18-w32_1xb64-500it_synth-freihand-64px.py'
                           ).model.type == 'SimCLR'

    _png_ok(work / 'results.png')
    pictures = sorted((work / 'predictions').glob('*.png'))
    assert len(pictures) == 6
    for p in pictures:
        _png_ok(p)
    assert not list(work.rglob('.*.tmp'))  # nothing half-written


@pytest.mark.slow
def test_demo_rerun_skips_finished_stages(quick_demo):
    work, _ = quick_demo
    before = (work / 'results.json').read_text()
    proc = subprocess.run([sys.executable, 'tools/demo.py', '--quick', '--work-dir', str(work)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    skipped = re.findall(r'^\[([\w/]+)\] done before', proc.stdout, re.M)
    assert len(skipped) == 2 * 2 + 3 + 6 * 2  # pretrain + export per algorithm, probe per init, finetune + test
    assert '[data]' in proc.stdout and 'skipped' in proc.stdout
    assert json.loads(before)['results'] == json.loads((work / 'results.json').read_text())['results']


def test_reproduce_dry_run_prints_the_protocol(tmp_path):
    proc = subprocess.run([sys.executable, 'tools/reproduce.py', '--data-root', str(tmp_path / 'fh'),
                           '--preset', 'paper', '--gpus', '4', '--work-dir', str(tmp_path / 'w'), '--dry-run'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = re.findall(r'^# (\w+/\w+) -> ', proc.stdout, re.M)
    assert names[:4] == ['pretrain/peclr', 'export/peclr', 'pretrain/simclr', 'export/simclr']
    assert sorted(names[4:]) == sorted(f'{s}/{i}_{f}pct' for s in ('finetune', 'test')
                                       for i in ('scratch', 'simclr', 'peclr') for f in (10, 100))
    assert 'torch.distributed.run --nproc_per_node=4' in proc.stdout
    assert 'optim_wrapper.accumulative_counts=4' in proc.stdout  # 4 GPUs x 128 x 4 = 2048
    assert not (tmp_path / 'w').exists()  # a dry run writes nothing


@pytest.mark.parametrize('yt3dh', [False, True])
def test_reproduce_plan_configs_load_with_their_options(tmp_path, yt3dh):
    """Every config of the paper plan loads, and every --cfg-options key exists and takes effect."""
    import reproduce

    args = reproduce.argparse.Namespace(data_root=str(tmp_path / 'fh'), yt3dh_root=str(tmp_path / 'yt') if yt3dh
                                        else None, preset='paper', arch='rn50', gpus=8, fractions=[0.1, 1.0],
                                        seed=3, work_dir=str(tmp_path / 'w'), dry_run=True, force=False)
    plan, files = reproduce.build_plan(args)
    assert bool(files) != yt3dh
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    fh = str((tmp_path / 'fh').resolve()) + '/'
    for step in plan:
        cmd = step['cmd']
        if 'export' in step['name']:
            continue
        cfg_path = next(c for c in cmd if c.endswith('.py') and 'configs' in c)
        cfg = Config.fromfile(cfg_path)
        opts = dict(o.split('=', 1) for o in cmd[cmd.index('--cfg-options') + 1:])
        cfg_flat = cfg.to_dict()
        cfg_flat.setdefault('randomness', {})  # a Runner argument that mmpose's runtime leaves unset
        for key in opts:  # every option lands in an existing dict (a typo would silently add a new branch)
            node = cfg_flat
            for part in key.split('.')[:-1]:
                node = node[int(part)] if part.isdigit() else node[part]
        cfg.merge_from_dict({k: reproduce_value(v) for k, v in opts.items()})
        if step['name'].startswith('pretrain'):
            assert cfg.optim_wrapper.accumulative_counts * cfg.train_dataloader.batch_size * 8 == 2048
            ds = cfg.train_dataloader.dataset
            roots = [d.data_root for d in ds.datasets] if yt3dh else [ds.data_root]
            assert roots[0] == fh and (not yt3dh or roots[1] == str((tmp_path / 'yt').resolve()) + '/')
            assert cfg.model.type == 'PeCLR' and tuple(cfg.model.undo) == (
                ('rotate', 'translate') if 'peclr' in step['name'] else ())
        elif step['name'].startswith('finetune'):
            frac = 0.1 if '10pct' in step['name'] else 1.0
            assert cfg.train_dataloader.dataset.data_root == fh and cfg.test_dataloader.dataset.data_root == fh
            assert cfg.train_dataloader.dataset.get('label_fraction', 1.0) == frac
            init = step['name'].split('/')[1].split('_')[0]
            ckpt = cfg.model.backbone.get('init_cfg', {}).get('checkpoint')
            assert (ckpt is None) == (init == 'scratch')
            if ckpt:
                assert ckpt == str((tmp_path / 'w' / 'pretrain' / init / 'backbone.pth').resolve())
        else:
            assert cfg.test_evaluator.pred_json.endswith('pred.json')


def reproduce_value(v: str):
    """--cfg-options values as mmengine's DictAction parses the simple ones used here."""
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def test_across_seed_table_is_mean_sd_and_paired():
    """results.md's seed table: sample mean ± sd per initialisation and PeCLR − SimCLR per seed, checked
    against numpy on made-up values."""
    from demo_report import seed_table

    per_seed = {0: {'simclr/gap': -0.14, 'peclr/gap': 0.03, 'scratch/uv_px': 15.9, 'simclr/uv_px': 15.0,
                    'peclr/uv_px': 14.8},
                1: {'simclr/gap': -0.12, 'peclr/gap': 0.01, 'scratch/uv_px': 15.7, 'simclr/uv_px': 15.1,
                    'peclr/uv_px': 14.9},
                2: {'simclr/gap': -0.13, 'peclr/gap': 0.02, 'scratch/uv_px': 15.8, 'simclr/uv_px': 15.2,
                    'peclr/uv_px': 14.7}}
    lines = seed_table(per_seed)
    gap = next(line for line in lines if line.startswith('| equivariance gap'))
    uv = next(line for line in lines if line.startswith('| probe uv error'))
    d = np.array([0.17, 0.13, 0.15])
    assert f'{np.mean([-0.14, -0.12, -0.13]):+.3f} ± {np.std([-0.14, -0.12, -0.13], ddof=1):.3f}' in gap
    assert f'{d.mean():+.3f} ± {d.std(ddof=1):.3f} (+0.170, +0.130, +0.150)' in gap
    assert gap.split(' | ')[1] == ''  # random weights have no gap
    assert f'{np.mean([15.9, 15.7, 15.8]):+.3f} ± {np.std([15.9, 15.7, 15.8], ddof=1):.3f}' in uv
    assert '(-0.200, -0.200, -0.500)' in uv
    assert '## Across pretraining seeds (0, 1, 2)' in lines
