"""peclr_lab.experiments without upstream runs: the stage scheduler (trivial ``python -c`` stages), the
statistics over seeds, the demo's stage graph and budgets, and the report from a hand-made work dir."""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from peclr_lab.experiments import config_table as C
from peclr_lab.experiments import plan as P
from peclr_lab.experiments.presets import PRESETS, resolve
from peclr_lab.experiments.stages import Stage, StageFailed, check_graph, run_stages
from peclr_lab.experiments.stats import paired, summarize

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _stage(tmp: Path, name: str, seconds: float = 0.0, fail: bool = False, deps=()) -> Stage:
    """A stage that records its start/end time, sleeps, and writes its done file (or exits 1)."""
    out = tmp / name
    done = out / 'done'
    code = (f'import time, pathlib; t0 = time.time(); time.sleep({seconds}); '
            + ('raise SystemExit(1)' if fail else f'pathlib.Path({str(done)!r}).write_text("%r %r" % (t0, time.time()))'))
    return Stage(name, [sys.executable, '-c', code], out, done, deps=tuple(deps))


def _interval(stage: Stage) -> tuple[float, float]:
    a, b = stage.done.read_text().split()
    return float(a), float(b)


def test_scheduler_honours_dependencies_and_job_limit(tmp_path):
    stages = [_stage(tmp_path, 'a', 0.6), _stage(tmp_path, 'b', 0.6), _stage(tmp_path, 'c', 0.6),
              _stage(tmp_path, 'd', 0.1, deps=['a']), _stage(tmp_path, 'e', 0.1, deps=['d', 'b'])]
    walls = run_stages(stages, jobs=2)
    assert set(walls) == set('abcde') and all(w > 0 for w in walls.values())
    iv = {s.name: _interval(s) for s in stages}
    assert iv['d'][0] >= iv['a'][1] and iv['e'][0] >= max(iv['d'][1], iv['b'][1])
    # at most 2 at once: at every start, fewer than 2 others are running
    for n, (start, _) in iv.items():
        assert sum(s < start < e for m, (s, e) in iv.items() if m != n) <= 1, iv
    assert max(iv['a'][0], iv['b'][0]) < min(iv['a'][1], iv['b'][1])  # a and b did overlap
    for s in stages:
        assert json.loads((s.out / 'stage.json').read_text())['cmd'] == [str(c) for c in s.cmd]


def test_scheduler_skips_finished_stages_and_force_reruns(tmp_path, capsys):
    s = _stage(tmp_path, 'x', 0.0)
    run_stages([s], jobs=1)
    first = s.done.read_text()
    run_stages([_stage(tmp_path, 'x', 0.0)], jobs=1)
    assert '[x] done before' in capsys.readouterr().out and s.done.read_text() == first
    run_stages([_stage(tmp_path, 'x', 0.0)], jobs=1, force=True)
    assert s.done.read_text() != first


def test_scheduler_failure_stops_launching_and_waits(tmp_path):
    slow = _stage(tmp_path, 'slow', 1.0)
    bad = _stage(tmp_path, 'bad', 0.0, fail=True)
    after = _stage(tmp_path, 'after', 0.0)
    child = _stage(tmp_path, 'child', 0.0, deps=['bad'])
    t0 = time.time()
    with pytest.raises(StageFailed) as err:
        run_stages([slow, bad, after, child], jobs=2)
    assert err.value.stage.name == 'bad' and 'exit status 1' in str(err.value)
    assert slow.done.exists() and time.time() - t0 >= 1.0  # the running stage was waited for
    assert not after.out.exists() and not child.out.exists()  # nothing launched after the failure
    assert not (bad.out / 'stage.json').exists()


def test_scheduler_rejects_bad_graphs(tmp_path):
    with pytest.raises(ValueError, match='unknown'):
        run_stages([_stage(tmp_path, 'a', deps=['zz'])])
    with pytest.raises(ValueError, match='listed after'):
        run_stages([_stage(tmp_path, 'a', deps=['b']), _stage(tmp_path, 'b')])


def test_stats_mean_sd_and_paired_exact():
    s = summarize([1.0, 2.0, 4.0])
    assert s.n == 3 and s.mean == pytest.approx(7 / 3) and s.sd == pytest.approx(math.sqrt(7 / 3))
    assert s.fmt(2) == '2.33 ± 1.53' and summarize([5.0]).fmt(2) == '5.00' and summarize([]).fmt() == ''
    per_seed = {'peclr': {0: 30.0, 1: 31.0, 2: 29.5}, 'simclr': {0: 31.0, 1: 32.5, 2: 30.0}}
    p = paired(per_seed['peclr'], per_seed['simclr'])
    assert p.seeds == (0, 1, 2) and p.values == (-1.0, -1.5, -0.5)
    assert p.mean == pytest.approx(-1.0) and p.sd == pytest.approx(0.5)
    # |mean| / se = 1 / (0.5 / sqrt 3) = 3.46 > 2 and all three negative: resolved
    assert p.agree == 3 and p.resolved and '3/3 seeds agree' in p.sign_line() and '3.5 standard errors' in p.sign_line()
    q = paired({0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.5, 1: 1.0, 2: 3.1})  # -0.5, +1.0, -0.1: mixed signs
    assert q.values == pytest.approx((-0.5, 1.0, -0.1)) and q.agree == 1 and not q.resolved
    r = paired({0: 1.0, 1: 1.0, 3: 9.0}, {0: 2.0, 1: 3.0})  # seed 3 has no partner
    assert r.seeds == (0, 1) and r.values == (-1.0, -2.0)
    assert r.se == pytest.approx(0.5) and r.resolved  # |-1.5| = 3 standard errors, both negative
    assert not paired({0: 1.0, 1: 1.0}, {0: 2.0, 1: 4.0}).resolved  # -1, -3: sd 1.41, se 1.0, 2.0 se: not > 2
    assert not paired({0: 1.0}, {0: 2.0}).resolved  # one seed never resolves


def test_presets_and_schedule_options():
    full, long, quick = PRESETS['full'], PRESETS['long'], PRESETS['quick']
    assert len(full.seeds) >= 3 and long.seeds == full.seeds  # the issue's >= 3 seeds for the headline cells
    assert long.pretrain_iters > full.pretrain_iters > quick.pretrain_iters
    assert long.finetune_iters > full.finetune_iters > quick.finetune_iters
    assert quick.seeds == (0, 1) and quick.seeds_for(0.1) == (0,) and full.seeds_for(1.0) == full.seeds
    assert dataclasses.replace(full, low_label_seeds=None).seeds_for(0.1) == full.seeds
    assert dataclasses.replace(full, low_label_seeds=2).seeds_for(0.1) == full.seeds[:2]
    assert resolve('quick', jobs=3, seeds=None).jobs == 3
    cfg = C.finetune_config('scratch', 1.0)[0]
    # a fraction without a named config: the 100 % config with the fraction set, for the demo and the paper
    for arch in ('demo', 'rn50'):
        path, extra = C.finetune_config('peclr', 0.5, arch)
        assert path == C.finetune_config('peclr', 1.0, arch)[0] and path.is_file()
        assert extra == ['train_dataloader.dataset.label_fraction=0.5']
        assert C.finetune_config('peclr', 0.1, arch)[0].is_file() and C.finetune_config('peclr', 0.1, arch)[1] == []
    assert P.schedule_options(cfg, 600, 50)[0] == 'train_cfg.max_iters=600'
    opts = dict(o.split('=', 1) for o in P.schedule_options(cfg, 24, 8))
    assert opts['param_scheduler.0.end'] == '1' and opts['param_scheduler.1.begin'] == '1'  # 25 of 500 -> 1 of 24
    assert opts['param_scheduler.1.end'] == '24' and opts['default_hooks.checkpoint.interval'] == '24'
    assert not any('T_max' in k or 'val_interval' in k for k in opts)  # the cosine follows its end
    from mmengine.config import Config
    base = Config.fromfile(str(cfg), import_custom_modules=False)
    full = dict(o.split('=', 1) for o in P.schedule_options(cfg, base.train_cfg.max_iters, 50))
    for k, s in enumerate(base.param_scheduler):  # the config's own budget reproduces the config
        end = s.get('end', base.train_cfg.max_iters)  # no end: the train loop's (mmengine's Runner)
        assert int(full[f'param_scheduler.{k}.begin']) == s.begin and int(full[f'param_scheduler.{k}.end']) == end


def test_every_config_in_the_table_exists():
    """The demo, the paper plan and the GPU check find their configs through one table: a renamed config fails
    here, not in a demo at run time."""
    missing = [f'{key}: {path}' for key, path in C.CONFIGS.items() if not (ROOT / path).is_file()]
    assert not missing, missing
    demo = {f'configs/demo/{p.name}' for p in (ROOT / 'configs' / 'demo').glob('*.py')}
    assert demo == {p for (_, _, scale, _), p in C.CONFIGS.items() if scale in C.DEMO_SCALES}  # each one used
    for scale in C.DEMO_SCALES:  # every lookup of the plans resolves
        assert all(C.pretrain_config(algo, scale)[0].is_file() for algo in C.ALGOS)
        assert all(C.finetune_config(init, f, scale)[0].is_file() for init in C.INITS for f in (*C.FRACTIONS, 0.5))
    for arch in C.ARCH_DEPTH:
        assert all(C.pretrain_config(algo, arch, yt3dh)[0].is_file() for algo in ('peclr', 'simclr')
                   for yt3dh in (True, False))
        assert all(C.finetune_config(init, f, arch)[0].is_file() for init in C.PAPER_INITS for f in C.FRACTIONS)
    with pytest.raises(KeyError, match='no finetune config'):
        C.finetune_config('simclr-app', 1.0, 'rn50')


def test_demo_plan_per_seed_graph(tmp_path):
    preset = PRESETS['quick']
    opts = P.DemoOptions(work=tmp_path, data_root=tmp_path / 'data')
    stages = P.demo_plan(opts, preset)
    names = [s.name for s in stages]
    for seed in (0, 1):
        for algo in ('simclr', 'simclr-app', 'peclr'):
            assert f'pretrain/{algo}_s{seed}' in names and f'export/{algo}_s{seed}' in names
        assert f'probe/geometry_s{seed}' in names
        for init in C.INITS:
            assert f'test/{init}_100pct_s{seed}' in names
    assert 'finetune/peclr_10pct_s0' in names and 'finetune/peclr_10pct_s1' not in names
    assert len(stages) == 6 + 6 + 12 + 12 + 2
    # launch priority is list order, topological: each test right after its fine-tuning, each probe right
    # after its seed's control
    check_graph(stages)
    assert all(names[names.index(n) + 1] == 'test/' + n.split('/')[1] for n in names if n.startswith('finetune/'))
    assert names[names.index('finetune/scratch_100pct_s1') + 2] == 'probe/geometry_s1'
    check_graph(P.demo_plan(P.DemoOptions(work=tmp_path, data_root=tmp_path / 'data', inits=['peclr']), preset))
    by = {s.name: s for s in stages}
    assert by['finetune/peclr_100pct_s1'].deps == ('export/peclr_s1',) and by['finetune/scratch_10pct_s0'].deps == ()
    # the geometry probe of a seed: its pretraining checkpoints (with the projection), random weights, and
    # scratch fine-tuned on every label as the positive control
    probe = by['probe/geometry_s1']
    assert set(probe.deps) == {'pretrain/simclr_s1', 'pretrain/simclr-app_s1', 'pretrain/peclr_s1',
                               'finetune/scratch_100pct_s1'}
    cmd = [str(c) for c in probe.cmd]
    assert '--geometry' in cmd and cmd[cmd.index('--seed') + 1] == '1' and probe.done.name == 'geometry.json'
    assert cmd[cmd.index('--budgets') + 1:cmd.index('--budgets') + 3] == ['200', 'all']  # 640 images
    for algo in C.ALGOS:
        assert f'{algo}={tmp_path / "pretrain" / f"{algo}_s1" / "iter_16.pth"}' in cmd
    assert cmd[cmd.index('--control') + 1] == str(tmp_path / 'finetune' / 'scratch_100pct_s1' / 'iter_24.pth')
    cmd = [str(c) for c in by['finetune/simclr_100pct_s1'].cmd]
    assert 'randomness.seed=1' in cmd and 'train_dataloader.dataset.seed=1' in cmd
    assert f'model.backbone.init_cfg.checkpoint={tmp_path / "pretrain" / "simclr_s1" / "backbone.pth"}' in cmd
    assert 'train_cfg.max_iters=24' in cmd
    assert 'randomness.seed=1' in [str(c) for c in by['pretrain/peclr_s1'].cmd]
    # equal pretraining budget: every algorithm gets the same schedule options on each seed
    for seed in (0, 1):
        peclr, simclr, app = ([str(c) for c in by[f'pretrain/{a}_s{seed}'].cmd] for a in C.ALGOS[::-1])
        assert f'train_cfg.max_iters={preset.pretrain_iters}' in peclr
        assert peclr[peclr.index('--cfg-options'):] == simclr[simclr.index('--cfg-options'):] == app[
            app.index('--cfg-options'):]
    assert by['pretrain/simclr-app_s0'].cmd[2].name == 'simclr-appearance_resnet18-w32_1xb64-400it_synth-freihand-64px.py'
    assert by['finetune/simclr-app_10pct_s0'].cmd[2].name == (
        'td-reg25d_res18-w32-simclr-app_1xb32-500it_synth-freihand3d-10pct-64x64.py')


def test_the_reports_probe_columns_are_the_probes():
    from peclr_lab.experiments import results as R

    from peclr_mm.pose.linear_probe import GEOMETRY_TARGETS, POOLED, READOUTS
    assert R.PROBE_METRICS == tuple(t.column for t in GEOMETRY_TARGETS)
    assert R.HEADLINE['features'] == POOLED and R.HEADLINE['readout'] in READOUTS


def test_precision_reaches_the_cpu_training_stages_only(tmp_path):
    autocast = ['optim_wrapper.type=AutocastOptimWrapper', 'optim_wrapper.dtype=bfloat16']
    for precision, expect in (('bf16', autocast), ('fp32', [])):
        opts = P.DemoOptions(work=tmp_path, data_root=tmp_path / 'data', precision=precision)
        for s in P.demo_plan(opts, PRESETS['quick']):
            cmd = [str(c) for c in s.cmd]
            has = [o for o in cmd if o.startswith('optim_wrapper.')]
            assert has == (expect if s.name.split('/')[0] in ('pretrain', 'finetune') else []), s.name
    gpu = P.demo_plan(P.DemoOptions(work=tmp_path, data_root=tmp_path / 'data', device='cuda', precision='bf16'),
                      PRESETS['gpu'])
    assert not any('AutocastOptimWrapper' in str(c) for s in gpu for c in s.cmd)  # its configs' own AMP
    with pytest.raises(ValueError, match="precision: one of \\('fp32', 'bf16'\\), got 'fp16'"):
        P.precision_options('fp16')


def test_appearance_only_simclr_differs_from_simclr_in_the_views_geometry_only():
    from mmengine.config import Config
    for scale in C.DEMO_SCALES:
        simclr, app = (Config.fromfile(str(C.pretrain_config(a, scale)[0]), import_custom_modules=False)
                       for a in ('simclr', 'simclr-app'))
        views, app_views = (c.train_dataloader.dataset.pipeline[1].transforms[0] for c in (simclr, app))
        assert app_views[1] == dict(type='TrackedRandomAffine', max_angle=0, shift=0, random_sign=False,
                                    margin=1.2, flip_prob=0.0)
        assert views[1].max_angle == 45 and views[1].margin == (0.9, 1.5)
        assert [v for k, v in enumerate(views) if k != 1] == [v for k, v in enumerate(app_views) if k != 1]
        a, b = simclr.to_dict(), app.to_dict()
        for key in ('view_pipeline', 'train_pipeline', 'train_dataloader'):
            a.pop(key), b.pop(key)
        assert a == b
        assert app.model.type == 'SimCLR'


def test_gpu_preset_plan_uses_the_gpu_configs_and_fits_the_device(tmp_path):
    preset = PRESETS['gpu']
    assert preset.scale == 'demo-gpu' and preset.low_label_seeds is None and len(preset.seeds) >= 2
    stages = P.demo_plan(P.DemoOptions(work=tmp_path, data_root=tmp_path / 'data', device='cuda', workers=3), preset)
    by = {s.name: s for s in stages}
    assert len(stages) == len(preset.seeds) * (3 + 3 + 8 + 8 + 1)  # every seed at 10 % too
    pre = [str(c) for c in by['pretrain/simclr-app_s1'].cmd]
    assert pre[2].endswith('simclr-appearance_resnet18_1xb256-1000it_synth-freihand-128px.py')
    assert 'train_dataloader.num_workers=3' in pre and 'optim_wrapper.type=OptimWrapper' not in pre  # bf16 AMP kept
    ft = [str(c) for c in by['finetune/peclr_10pct_s1'].cmd]
    assert ft[2].endswith('td-reg25d_res18-peclr_1xb128-500it_synth-freihand3d-10pct-128x128.py')
    assert 'test_dataloader.num_workers=3' in [str(c) for c in by['test/peclr_10pct_s1'].cmd]
    probe = [str(c) for c in by['probe/geometry_s0'].cmd]
    assert probe[probe.index('--device') + 1] == 'cuda'
    cpu = {s.name: s for s in P.demo_plan(P.DemoOptions(work=tmp_path, data_root=tmp_path / 'data'), preset)}
    assert 'optim_wrapper.type=OptimWrapper' in [str(c) for c in cpu['pretrain/peclr_s0'].cmd]
    from mmengine.config import Config
    for name in ('pretrain/peclr_s0', 'finetune/scratch_100pct_s0'):
        cfg = Config.fromfile(str(by[name].cmd[2]), import_custom_modules=False)
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.dtype == 'bfloat16'
        assert cfg.model.backbone.base_channels == 64 and cfg.env_cfg.cudnn_benchmark


def _fake_work(tmp_path: Path) -> tuple[Path, Path, list[dict], dict]:
    """A work dir as a 2-seed demo leaves it (data, test metrics json, pred.json, probe.json, scalars.json)
    with made-up numbers; the metrics are the numpy core's on the fake predictions, as FreiHandMetric's are."""
    import cv2
    from peclr_lab.experiments.results import scores
    rng = np.random.default_rng(0)
    data, work = tmp_path / 'data', tmp_path / 'work'
    n = 6
    gt = rng.normal(0, 0.03, (n, 21, 3)) + np.array([0, 0, 0.6])
    K = np.tile(np.array([[200.0, 0, 112], [0, 200.0, 112], [0, 0, 1]]), (n, 1, 1))
    (data / 'evaluation' / 'rgb').mkdir(parents=True)
    for name, arr in (('evaluation_xyz', gt), ('evaluation_K', K),
                      ('training_xyz', rng.normal(0, 0.03, (8, 21, 3)) + np.array([0, 0, 0.6]))):
        (data / f'{name}.json').write_text(json.dumps(arr.tolist()))
    for i in range(n):
        cv2.imwrite(str(data / 'evaluation' / 'rgb' / f'{i:08d}.jpg'), rng.integers(0, 255, (224, 224, 3), np.uint8))
    runs = []
    noise = {'scratch': 0.02, 'simclr': 0.015, 'simclr-app': 0.012, 'peclr': 0.01}
    for f, seeds in ((0.1, (0,)), (1.0, (0, 1))):
        for init in C.INITS:
            for seed in seeds:
                d = work / 'finetune' / P.run_name(init, f, seed)
                pred = gt + rng.normal(0, noise[init], gt.shape)
                (d / 'test' / 'stamp').mkdir(parents=True)
                (d / 'pred.json').write_text(json.dumps([pred.tolist(), np.zeros((n, 778, 3)).tolist()]))
                m = {k: v for k, v in scores(gt, pred).items() if k in ('EPE', 'PA-EPE', 'AUC', 'PA-AUC')}
                (d / 'test' / 'stamp' / 'stamp.json').write_text(json.dumps({f'freihand/{k}': v for k, v in m.items()}))
                runs.append(dict(init=init, fraction=f, seed=seed, name=P.run_name(init, f, seed), dir=str(d),
                                 metrics=m, finetune_wall_s=1.0))
    # the geometry probe: uv as the arm's number (+0.1 per seed, +1 with 200 labels), orientation 4x that,
    # PA-EPE the same for every arm
    probe = {'scratch': 15.9, 'simclr': 15.0, 'simclr-app': 14.9, 'peclr': 14.8, 'control': 9.0}
    names = {'scratch': 'random weights', 'control': 'fine-tuned (control)'}
    for seed in (0, 1):
        rows = []
        for budget in (200, 'all'):
            rows.append(dict(backbone='mean pose', features='', readout='training mean', budget=budget,
                             orientation_deg=90.0, uv_px=16.0, pa_epe_mm=30.0))
            rows += [dict(backbone=names.get(init, init), features=features, readout=readout, budget=budget,
                          orientation_deg=4 * uv + seed, uv_px=uv + 0.1 * seed + (budget == 200), pa_epe_mm=28.0)
                     for features in ('pooled last stage', 'stage 3 4x4') for readout in ('ridge', 'k-NN')
                     for init, uv in probe.items()]
        d = work / 'probe' / P.seeded('geometry', seed)
        d.mkdir(parents=True)
        (d / 'geometry.json').write_text(json.dumps(dict(rows=rows, random='random weights',
                                                         control='fine-tuned (control)')))
    for algo, gap in (('simclr', -0.13), ('peclr', 0.02)):
        for seed in (0, 1):
            d = work / 'pretrain' / P.seeded(algo, seed) / '20250101_000000' / 'vis_data'
            d.mkdir(parents=True)
            recs = [{'equivariance/eval_gap': gap * step / 16 + 0.01 * seed, 'equivariance/eval_undone': 0.5,
                     'equivariance/eval_raw': 0.5, 'equivariance/eval_feat_rank': 50.0, 'step': step}
                    for step in (0, 8, 16)]
            (d / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in recs) + '\n')
    settings = dict(preset='quick', seeds=[0, 1], low_label_seeds_used=[0], jobs=2, num_train=8, num_eval=n,
                    pretrain_iters=16, finetune_iters=24, inits=list(C.INITS), fractions=[0.1, 1.0],
                    command='python tools/demo.py --quick', data_root=str(data))
    return work, data, runs, settings


def test_report_renders_mean_sd_paired_and_error_bars(tmp_path):
    from peclr_lab.experiments.report import write_report
    work, data, runs, settings = _fake_work(tmp_path)
    walls = {'data': 1.0, 'pretrain/peclr_s0': 2.0}
    out = write_report(work, data, settings, walls, 2.5, runs, num_pictures=2)
    md = out['md'].read_text()
    pa = [r['metrics']['PA-EPE'] for r in runs if r['init'] == 'peclr' and r['fraction'] == 1.0]
    assert '| PeCLR | 100 % | 2 | ' in md and f'{np.mean(pa):.2f} ± {np.std(pa, ddof=1):.2f}' in md
    assert 'seeds **0, 1**' in md and '**2** stages at once' in md and '**3 s**' in md and '**2 s**' in md
    # probe uv: PeCLR 14.8 / 14.9, SimCLR 15.0 / 15.1 -> paired -0.20 on both seeds, sd 0
    assert '| probe uv error (px) | PeCLR − SimCLR | s0: -0.20, s1: -0.20 |' in md
    assert '## What this run shows / does not show' in md and 'not resolved' in md
    assert 'Paired PeCLR − SimCLR gap: +0.150 ± 0.000 (s0: +0.150, s1: +0.150)' in md
    for r in runs:  # every run's metric numbers, unchanged
        assert f'| {r["seed"]} | {r["metrics"]["EPE"]:.2f} | {r["metrics"]["PA-EPE"]:.2f} |' in md
    res = json.loads((work / 'results.json').read_text())
    assert len(res['results']) == 12 and res['summary']['probe']['peclr']['uv_px']['n'] == 2
    assert '| probe uv error (px) | SimCLR − SimCLR (appearance only) | s0: +0.10, s1: +0.10 |' in md
    # the geometry probe: every arm in every cell, and the paired differences per cell
    geo = md[md.index('## Geometry probe'):md.index('## Paired comparisons')]
    assert '| all | pooled last stage | ridge | random weights | 2 | 64.10 ± 0.71 | 15.95 ± 0.07 | 28.00 ± 0.00 |' in geo
    assert '| 200 | stage 3 4x4 | k-NN | fine-tuned (control) | 2 | 36.50 ± 0.71 | 10.05 ± 0.07 | 28.00 ± 0.00 |' in geo
    assert '| all | — | training mean | mean pose | 2 | 90.00 ± 0.00 | 16.00 ± 0.00 | 30.00 ± 0.00 |' in geo
    assert ('| all | pooled last stage | ridge | PeCLR − SimCLR | **-0.80 ± 0.00** | **-0.20 ± 0.00** | '
            '+0.00 ± 0.00 |') in geo
    assert ('Geometry probe, PeCLR − SimCLR (appearance only) over its 8 cells (feature set x readout x labels), '
            'resolved: orientation (deg) lower in 8, higher in 0; 2-D keypoints (px) lower in 8, higher in 0; '
            'PA-EPE (mm) lower in 0, higher in 0.') in md
    assert ('Positive control: the probe reads the orientation of a fine-tuned backbone at 36.5 ± 0.7 deg against '
            'the mean pose\'s 90.0 ± 0.0 deg (2/2 seeds below).') in md
    assert len(res['geometry_probe']['1']) == 2 * (1 + 4 * 5) and len(res['summary']['geometry_paired']) == 8 * 4
    for png in [out['png'], work / 'equivariance.png', *out['pictures']]:
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert len(out['pictures']) == 8  # first seed: 4 inits x 2 fractions
