"""Measurements of a training run (images/s, the loader's share, GPU utilisation over the steady part, losses,
memory) from mmengine's ``vis_data/scalars.json`` and the run's log, and the check's verdicts (:func:`checks`)."""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from ..config_options import config_value
from ..runner import Run
from .device import GpuSampler
from .sizes import Sizes


def read_scalars(work: Path) -> list[dict]:
    """The training records (``iter``, ``time``, ``data_time``; not the validation's, which has the last two too)
    of the newest ``vis_data/scalars.json`` under ``work``."""
    from ..experiments.results import load_scalars
    return [r for r in load_scalars(work) if 'iter' in r and 'time' in r and 'data_time' in r]


def throughput(records: Sequence[dict], batch: int, warmup_steps: int) -> dict:
    """Images/s and the loader's share from mmengine's window means (``time``: a whole iteration, ``data_time``:
    its wait for the batch), over the records after ``warmup_steps`` (all of them if none is later)."""
    if not records:
        raise ValueError('no training records with time/data_time in scalars.json')
    steady = [r for r in records if r['step'] > warmup_steps] or list(records)
    t = statistics.fmean(r['time'] for r in steady)
    d = statistics.fmean(r['data_time'] for r in steady)
    losses = [r['loss'] for r in records if 'loss' in r]
    memory = [r['memory'] for r in records if 'memory' in r]
    return dict(batch=batch, steady_records=len(steady), first_steady_step=steady[0]['step'],
                last_step=records[-1]['step'], s_per_iter=round(t, 4), data_s_per_iter=round(d, 4),
                images_per_s=round(batch / t, 1), loader_share=round(d / t, 4),
                loss_first=losses[0] if losses else None, loss_last=losses[-1] if losses else None,
                losses_finite=all(math.isfinite(x) for x in losses) and bool(losses),
                max_memory_mib=max(memory) if memory else None)


def wall_throughput(run: Run, batch: int, warmup_steps: int) -> float | None:
    """Images/s from the arrival times of the logged iterations (a cross-check of mmengine's ``time``)."""
    steps = sorted(s for s in run.iter_times if s >= warmup_steps)
    if len(steps) < 2:
        return None
    a, b = steps[0], steps[-1]
    dt = run.iter_times[b] - run.iter_times[a]
    return round((b - a) * batch / dt, 1) if dt > 0 else None


def test_metrics(test_dir: Path) -> dict:
    """``tools/test.py``'s metrics of a run (its json under ``test_dir``)."""
    from ..experiments.results import read_test_metrics
    return read_test_metrics(test_dir)


def val_metrics(work: Path) -> dict:
    """The last validation's FreiHandMetric values of a training run."""
    from ..experiments.results import load_scalars
    recs = load_scalars(work, 'freihand/')
    return {k.split('/', 1)[1]: v for k, v in recs[-1].items() if k.startswith('freihand/')} if recs else {}


def measure(run: Run, work: Path, config: Path, opts: Sequence[str], sizes: Sizes,
             sampler: GpuSampler) -> dict:
    """A training run's record: its outcome, throughput and loader share, GPU utilisation over the steady part."""
    rec: dict = dict(wall_s=run.wall_s, ok=run.ok, timed_out=run.timed_out)
    try:
        batch = int(config_value(config, opts, 'train_dataloader.batch_size'))
        warm = sizes.window * sizes.warmup_windows
        rec.update(throughput(read_scalars(work), batch, warm))
        rec['images_per_s_wall'] = wall_throughput(run, batch, warm)
        rec['gpu'] = sampler.window(run.iter_times.get(rec['first_steady_step']),
                                    run.iter_times.get(rec['last_step']))
        if 'pretrain' in run.name:
            rec['views_per_s'] = round(2 * rec['images_per_s'], 1)
    except (FileNotFoundError, ValueError, KeyError) as e:
        rec['status'] = f'no measurements ({e})'
    return rec


def checks(res: dict) -> dict[str, bool]:
    """The verdicts: every run finished with finite losses, the numerics pass, the test wrote metrics."""
    out = dict(numerics=bool((res.get('numerics') or {}).get('ok')))
    for key in ('peclr', 'simclr', 'finetune'):
        r = res.get('runs', {}).get(key, {})
        out[f'{key}_ran'] = bool(r.get('ok')) and bool(r.get('losses_finite'))
    out['test_metrics'] = all(isinstance(v, float) and math.isfinite(v)
                              for v in (res.get('test_metrics') or {'none': None}).values())
    return out
