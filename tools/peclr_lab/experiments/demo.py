"""The demo end to end: render the data, run the stage graph, collect the metrics, write the report. The GPU
preset (``scale='demo-gpu'``) first finds its device and, where the OpenMMLab stack is missing (the lent GPU
machines), installs ``device_wheels/`` (:func:`..gpu_check.wheelhouse.prepare_stack`)."""
from __future__ import annotations

import dataclasses
import os
import platform
import time
from pathlib import Path

from peclr_mm.fileio import atomic_write_json
from peclr_mm.freihand import load_json

from ..runner import ROOT, echo
from .plan import DemoOptions, FinetuneRun, demo_plan, finetune_runs
from .presets import Preset
from .report import write_report
from .results import images_per_s, read_test_metrics, stage_wall
from .stages import Stage, command_config, read_stamp, run_stages


def make_data(data_root: Path, preset: Preset, seed: int, force: bool) -> float:
    """Render the synthetic set unless ``data_root`` already holds it with the same settings (its stamp
    ``<data_root>.json`` says so). Only a folder this project rendered (its marker inside, not a symbolic
    link) is replaced; anything else is a one-line :class:`FileExistsError`, nothing is written into it."""
    from ..synthetic import make_synthetic_freihand

    want = dict(num_train=preset.num_train, num_eval=preset.num_eval, size=224, seed=seed)
    stamp = data_root.parent / f'{data_root.name}.json'
    rec = read_stamp(stamp)
    rendered = rec is not None and rec.get('settings') == want and (data_root / 'evaluation_xyz.json').exists()
    if rendered and not force:
        echo(f'[data] {data_root} exists ({preset.num_train} train / {preset.num_eval} eval), skipped')
        return rec.get('wall_s', 0.0)
    echo(f'[data] rendering {4 * preset.num_train + preset.num_eval} images into {data_root}')
    t0 = time.time()
    try:
        make_synthetic_freihand(str(data_root), preset.num_train, preset.num_eval, size=224, seed=seed,
                                workers=os.cpu_count() or 1, overwrite=True, progress=True)
    except FileExistsError as e:  # a symbolic link or a folder the project did not render: left as it is
        raise FileExistsError(f'{e} (the demo renders into WORK_DIR/data; --data-root DIR trains on DIR '
                              'as it is)') from None
    wall = time.time() - t0
    atomic_write_json(stamp, dict(settings=want, wall_s=wall))
    echo(f'[data] finished in {wall:.0f} s')
    return wall


def find_device(preset: Preset) -> tuple[str, str]:
    """(``'cuda'`` or ``'cpu'``, the device in words) where the preset's stages compute. The CPU presets run on
    the CPU; the GPU preset on the first CUDA device, or, without one, on the CPU (fp32, slowly: what the tests
    run), which it says in one line."""
    cpu = f'CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)'
    if preset.scale != 'demo-gpu':
        return 'cpu', cpu
    import torch
    if torch.cuda.is_available():
        return 'cuda', f'{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}), {os.cpu_count()} CPU cores'
    echo('[device] no CUDA device: running the GPU preset on the CPU (fp32, slow; sized for one H100)')
    return 'cpu', cpu + ', no CUDA device'


def loader_workers(preset: Preset) -> int:
    """Data loader workers per stage of the GPU configs: the cores left after one per running stage, shared
    among the stages that run at once (at least 1)."""
    cores = os.cpu_count() or 1
    return max(1, (cores - preset.jobs) // preset.jobs)


def throughput(stages: list[Stage]) -> dict:
    """Training images per second (mean over the runs, and the runs' count) of the pretraining (source images;
    each gives two views) and the fine-tuning stages, from their logged iteration times."""
    out = {}
    for kind in ('pretrain', 'finetune'):
        rates = []
        for s in stages:
            if not s.name.startswith(kind + '/'):
                continue
            batch = command_config(s.cmd).train_dataloader.batch_size
            rate = images_per_s(s.out, batch)
            if rate is not None:
                rates.append(rate)
        if rates:
            out[kind] = dict(images_per_s=sum(rates) / len(rates), runs=len(rates))
    return out


def run_record(run: FinetuneRun) -> dict:
    """A fine-tuning run's result from its own files, also written to ``<run>/metrics.json``."""
    rec = dict(init=run.init, fraction=run.fraction, seed=run.seed, name=run.name, dir=str(run.dir),
               config=os.path.relpath(run.config, ROOT), metrics=read_test_metrics(run.dir / 'test'),
               finetune_wall_s=stage_wall(run.dir), test_wall_s=stage_wall(run.dir / 'test'))
    atomic_write_json(run.dir / 'metrics.json', dict(rec, label_fraction=run.fraction))
    return rec


def run_demo(preset_name: str, preset: Preset, opts: DemoOptions, *, data_seed: int = 0, render: bool = True,
             force: bool = False, command: str = '') -> dict:
    """Everything ``tools/demo.py`` does; returns :func:`.report.write_report`'s paths."""
    t_start = time.time()
    opts.work.mkdir(parents=True, exist_ok=True)
    device, device_name = find_device(preset)
    walls = {}
    if preset.scale == 'demo-gpu':
        from ..gpu_check.wheelhouse import prepare_stack
        t0 = time.time()
        installed = prepare_stack('auto', opts.work)  # the lent GPU machines have torch but no OpenMMLab
        if installed:
            walls['install'] = time.time() - t0
            echo(f'[install] {len(installed["wheels"])} wheels from {installed["wheelhouse"]} in '
                 f'{walls["install"]:.0f} s')
        opts = dataclasses.replace(opts, device=device, workers=loader_workers(preset))
    walls['data'] = make_data(opts.data_root, preset, data_seed, force) if render else 0.0
    stages = demo_plan(opts, preset)
    echo(f'[plan] {len(stages)} stages, preset {preset_name}, seeds {" ".join(map(str, preset.seeds))}, '
         f'{preset.jobs} at once on {device_name}; work dir {opts.work}')
    done = run_stages(stages, jobs=preset.jobs, force=force)
    walls.update((s.name, done[s.name]) for s in stages)  # plan order
    runs = [run_record(r) for r in finetune_runs(opts, preset)]
    settings = dict(preset=preset_name, **dataclasses.asdict(preset), data_seed=data_seed,
                    low_label_seeds_used=list(preset.seeds_for(0.0)), data_root=str(opts.data_root),
                    inits=list(opts.inits), fractions=list(opts.fractions),
                    pretrained_dir=str(opts.pretrained_dir) if opts.pretrained_dir else None,
                    pretrain_options=list(opts.pretrain_options), peclr_options=list(opts.peclr_options),
                    finetune_options=list(opts.finetune_options), command=command, device=device_name,
                    precision=opts.precision if preset.scale == 'demo' else None,
                    throughput=throughput(stages))
    settings['seeds'] = list(preset.seeds)
    out = write_report(opts.work, opts.data_root, settings, walls, time.time() - t_start, runs,
                       num_pictures=preset.num_pictures)
    return out


def rerender(work: Path) -> dict:
    """Rebuild the report of a finished demo run from its ``results.json`` settings and run files."""
    work = Path(work).resolve()
    prev = load_json(work / 'results.json', 'settings')
    s = prev['settings']
    runs = []
    for r in prev['results']:
        d = work / 'finetune' / r['name']
        rec = load_json(d / 'metrics.json', 'metrics')
        runs.append(dict(rec, dir=str(d)))
    return write_report(work, Path(s['data_root']), s, prev['walls_s'], prev['total_wall_s'], runs,
                        num_pictures=s.get('num_pictures', 3))
