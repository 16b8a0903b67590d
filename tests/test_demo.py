"""`make demo QUICK=1` end to end (real Runners through upstream tools, two seeds, two stages at once), its
resume path, and the paper-scale plan of `tools/reproduce.py` (every printed config loads and every option
applies). The end-to-end run leaves SimCLR out (`--inits scratch peclr`, a third fewer stages): its stage graph,
equal budget and report rows are tested in tests/test_experiments.py with the scheduler, statistics and
report on their own."""
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
from peclr_lab.experiments.plan import paper_plan, run_name, seeded

from peclr_mm.training_speed import cpu_has_fast_bf16

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
LABEL = {'scratch': 'scratch', 'simclr': 'SimCLR', 'peclr': 'PeCLR'}
INITS = ('scratch', 'peclr')  # the end-to-end run's --inits
# the quick preset: seeds 0 1 at 100 % labels, seed 0 only at 10 %
RUNS = [(i, f, s) for f, seeds in ((0.1, (0,)), (1.0, (0, 1))) for i in INITS for s in seeds]


def _png_ok(path: Path) -> None:
    import cv2
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100, path
    assert img.std() > 1.0, f'{path} is blank'


def _section(md: str, title: str) -> str:
    start = md.index(title)
    nxt = md.find('\n#', start + len(title))
    return md[start:nxt if nxt > 0 else None]


@pytest.fixture(scope='module')
def quick_demo(tmp_path_factory):
    work = tmp_path_factory.mktemp('demo')
    env = dict(os.environ)
    env.pop('MAKEFLAGS', None)
    proc = subprocess.run(['make', 'demo', 'QUICK=1', f'DEMO_ARGS=--work-dir {work} --inits {" ".join(INITS)}'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return work, proc.stdout


@pytest.mark.slow
def test_make_demo_quick_writes_table_plots_and_pictures(quick_demo):
    work, log = quick_demo
    # progress of the long stages is shown, prefixed by the stage
    assert re.search(r'\[pretrain/peclr_s1\] train \d+/\d+ loss', log)
    assert re.search(r'\[finetune/peclr_10pct_s0\] train \d+/\d+ loss', log)

    md = (work / 'results.md').read_text()
    res = json.loads((work / 'results.json').read_text())
    assert 'Preset **quick**, seeds **0, 1**' in md and '**2** stages at once' in md and 'sum of stage times' in md
    precision = res['settings']['precision']  # --precision auto: bf16 where the CPU has AMX
    assert precision == ('bf16' if cpu_has_fast_bf16() else 'fp32')
    assert ('training precision: **bfloat16 autocast' if precision == 'bf16' else 'training precision: **float32**') in md
    # every run's FreiHandMetric numbers (tools/test.py's json, also in metrics.json), unchanged
    per_run = _section(md, '### Per run')
    assert len(res['results']) == len(RUNS) == 6
    for init, f, seed in RUNS:
        metrics = json.loads((work / 'finetune' / run_name(init, f, seed) / 'metrics.json').read_text())['metrics']
        r = next(x for x in res['results'] if (x['init'], x['label_fraction'], x['seed']) == (init, f, seed))
        assert r['PA-EPE'] == metrics['PA-EPE'] and r['EPE'] == metrics['EPE']
        assert all(math.isfinite(metrics[k]) for k in ('EPE', 'PA-EPE', 'AUC', 'PA-AUC'))
        assert (f'| {LABEL[init]} | {round(f * 100)} % | {seed} | {metrics["EPE"]:.2f} | {metrics["PA-EPE"]:.2f} |'
                in per_run)
    # mean ± sd over the two seeds at 100 %, one value at 10 %
    cells = _section(md, '## Fine-tuning (mean ± sd over seeds)')
    for init in INITS:
        vals = [r['PA-EPE'] for r in res['results'] if r['init'] == init and r['label_fraction'] == 1.0]
        assert f'| {LABEL[init]} | 100 % | 2 | ' in cells
        assert f'{np.mean(vals):.2f} ± {np.std(vals, ddof=1):.2f}' in cells
        assert f'| {LABEL[init]} | 10 % | 1 | ' in cells
    # the probe of every initialisation and seed; the equivariance monitor of every pretraining run
    geo = [json.loads((work / 'probe' / seeded('geometry', s) / 'geometry.json').read_text()) for s in (0, 1)]
    probe_names = {'scratch': 'random weights', 'control': 'fine-tuned (control)'}  # geometry.json and results.md
    for init in (*INITS, 'control'):
        name, label = probe_names.get(init, init), probe_names.get(init) or LABEL[init]
        uv = [next(r['uv_px'] for r in g['rows'] if (r['backbone'], r['features'], r['readout'], r['budget']) ==
                   (name, 'pooled last stage', 'ridge', 'all')) for g in geo]
        assert all(math.isfinite(v) for v in uv)
        assert (f'| all | pooled last stage | ridge | {label} | 2 | ' in md
                and f' | {np.mean(uv):.2f} ± {np.std(uv, ddof=1):.2f} | ' in md)
    assert all(g['with_projection'] == ['peclr', 'random weights'] for g in geo)  # z of the pretraining checkpoint
    assert '| fine-tuning PA-EPE (mm), 100 % labels | PeCLR − scratch | s0: ' in md
    assert '| probe uv error (px) | PeCLR − scratch | s0: ' in md
    assert '## What this run shows / does not show' in md
    for algo in ('peclr',):
        for seed in ('0', '1'):
            recs = res['equivariance'][algo][seed]
            assert recs[-1]['step'] > 0 and all(-2 <= r['eval_gap'] <= 2 for r in recs)
    # the PCK curves come from pred.json with the numpy core, and reproduce the metric's AUC
    for name, c in res['pck'].items():
        r = next(x for x in res['results'] if x['name'] == name)
        t = np.asarray(c['thresholds_mm'])
        assert np.trapezoid(c['pck_aligned'], t) / (t[-1] - t[0]) == pytest.approx(r['PA-AUC'], abs=1e-9)
        assert np.all(np.diff(c['pck']) >= 0)

    # the preset's pretraining budget on each seed (PeCLR = SimCLR's: tests/test_experiments.py), and the real
    # SimCLR model in the SimCLR config
    for algo in ('peclr',):
        for seed in (0, 1):
            cmd = json.loads((work / 'pretrain' / seeded(algo, seed) / 'stage.json').read_text())['cmd']
            assert f'train_cfg.max_iters={res["settings"]["pretrain_iters"]}' in cmd and f'randomness.seed={seed}' in cmd
    assert Config.fromfile(ROOT / 'configs/demo/simclr_resnet18-w32_1xb64-400it_synth-freihand-64px.py'
                           ).model.type == 'SimCLR'

    _png_ok(work / 'results.png')
    _png_ok(work / 'equivariance.png')
    pictures = sorted((work / 'predictions').glob('*.png'))
    assert len(pictures) == 4  # first seed: 2 inits x 2 fractions
    for p in pictures:
        _png_ok(p)
    assert not list(work.rglob('.*.tmp'))  # nothing half-written


@pytest.mark.slow
def test_demo_rerun_skips_finished_stages_and_report_rerenders(quick_demo):
    work, _ = quick_demo
    before = json.loads((work / 'results.json').read_text())
    proc = subprocess.run([sys.executable, 'tools/demo.py', '--quick', '--work-dir', str(work), '--inits', *INITS],
                          cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    skipped = re.findall(r'^\[([\w/]+)\] done before', proc.stdout, re.M)
    assert len(skipped) == 2 * 1 * 2 + 2 + 6 * 2  # (pretrain + export) x algo x seed, probes, finetune + test
    assert '[data]' in proc.stdout and 'skipped' in proc.stdout
    assert before['results'] == json.loads((work / 'results.json').read_text())['results']
    (work / 'results.md').unlink()
    proc = subprocess.run([sys.executable, 'tools/demo_report.py', str(work)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '## Paired comparisons' in (work / 'results.md').read_text()


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
    assert 'train_dataloader.batch_size=32' in proc.stdout  # 4 GPUs x 32: the release's 128 in one NT-Xent
    assert not (tmp_path / 'w').exists()  # a dry run writes nothing


def test_demo_help_lists_presets_and_old_flags():
    proc = subprocess.run([sys.executable, 'tools/demo.py', '--help'], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for flag in ('--quick', '--preset', '--seeds', '--jobs', '--work-dir', '--data-root', '--seed', '--force',
                 '--num-train', '--num-eval', '--pretrain-iters', '--finetune-iters', '--inits', '--fractions',
                 '--pretrained-dir', '--pretrain-options', '--peclr-options', '--pretrain-seeds',
                 '--finetune-options'):
        assert flag in proc.stdout, flag
    assert re.search(r'^  long ', proc.stdout, re.M) and re.search(r'^  quick ', proc.stdout, re.M)
    assert re.search(r'^  gpu .*GPU configs$', proc.stdout, re.M) and 'simclr-app' in proc.stdout


@pytest.mark.parametrize('yt3dh', [False, True])
def test_reproduce_plan_configs_load_with_their_options(tmp_path, yt3dh):
    """Every config of the paper plan loads, and every --cfg-options key exists and takes effect."""
    plan = paper_plan(tmp_path / 'w', tmp_path / 'fh', tmp_path / 'yt' if yt3dh else None, arch='rn50',
                      gpus=8, fractions=[0.1, 1.0], seed=3)
    fh = str((tmp_path / 'fh').resolve()) + '/'
    for step in plan:
        cmd = [str(c) for c in step.cmd]
        if 'export' in step.name:
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
        if step.name.startswith('pretrain'):
            assert cfg.optim_wrapper.accumulative_counts == 16 and cfg.train_dataloader.batch_size * 8 == 128
            roots = [d.data_root for d in cfg.train_dataloader.dataset.datasets]
            assert len(roots) == (2 if yt3dh else 1) and cfg.model.mode == 'official'
            assert roots[0] == fh and (not yt3dh or roots[1] == str((tmp_path / 'yt').resolve()) + '/')
            assert cfg.model.type == 'PeCLR' and tuple(cfg.model.undo) == (
                ('rotate', 'translate') if 'peclr' in step.name else ())
        elif step.name.startswith('finetune'):
            frac = 0.1 if '10pct' in step.name else 1.0
            assert cfg.train_dataloader.dataset.data_root == fh and cfg.test_dataloader.dataset.data_root == fh
            assert cfg.train_dataloader.dataset.get('label_fraction', 1.0) == frac
            init = step.name.split('/')[1].split('_')[0]
            ckpt = cfg.model.backbone.get('init_cfg', {}).get('checkpoint')
            assert (ckpt is None) == (init == 'scratch')
            if ckpt:
                assert ckpt == str((tmp_path / 'w' / 'pretrain' / init / 'backbone.pth').resolve())
        else:
            assert cfg.test_evaluator.pred_json.endswith('pred.json')


def reproduce_value(v: str):
    """A --cfg-options value as upstream tools/train.py parses it (mmengine's DictAction)."""
    from mmengine.config import DictAction
    return DictAction._parse_iterable(v)
