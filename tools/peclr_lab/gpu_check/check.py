"""The check itself: install the stack if needed, render the data, then the numerics, the PeCLR and SimCLR
pretraining, the export, the fine-tuning and the test, each a logged subprocess
(:func:`..runner.run_logged`) within a wall-clock budget, the results saved after every step."""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..runner import PY, Run, child_env, echo, loaded_cleanly, run_logged
from .data import make_data
from .device import GpuSampler
from .measure import checks, measure, test_metrics, val_metrics
from .options import (
    NO_DOWNLOAD,
    TINY_PRETRAIN_MODEL,
    configs,
    finetune_options,
    pretrain_options,
    scratch_config,
    test_options,
    torchrun,
)
from .report import RESULT_JSON, RESULT_LOGS, RESULT_MD, SCHEMA, markdown, pack_logs, write_results
from .sizes import Sizes
from .wheelhouse import prepare_stack


def run_step(name: str, cmd: Sequence, log: Path, env: dict, timeout: float) -> Run:
    """One step of the check as a logged subprocess (the command as the log's first line), killed past
    ``timeout``; its wall time to 0.1 s."""
    run = run_logged(name, cmd, log, env=env, timeout=timeout, header=True)
    run.wall_s = round(run.wall_s, 1)
    echo(f'[{name}] {"finished" if run.ok else "FAILED"} in {run.wall_s:.0f} s')
    return run


def run_check(sizes: Sizes, mode: str, work_dir: str | None = None, out: str | None = None,
              wheelhouse: str = 'auto') -> int:
    """The whole check (``mode``: ``'gpu'`` or ``'tiny'``, for the report); exit status 0 when every check
    passed, 1 when one failed, 2 when nothing could run. ``work_dir``: data, runs and logs (default: a new
    temporary folder); ``out``: the results (default ``$OUT``, else ``WORK_DIR/out``); ``wheelhouse``: see
    :func:`.wheelhouse.prepare_stack`."""
    t_start = time.time()
    work = Path(work_dir or tempfile.mkdtemp(prefix='peclr_gpu_check_')).resolve()
    out = Path(out or os.environ.get('OUT') or work / 'out').resolve()
    work.mkdir(parents=True, exist_ok=True)
    res: dict = dict(schema=SCHEMA, mode=mode, date=datetime.datetime.now().astimezone()
                     .isoformat(timespec='seconds'), sizes=dataclasses.asdict(sizes), work_dir=str(work),
                     runs={}, errors=[], ok=False)
    deadline = t_start + sizes.budget_s

    def left(cap: float | None = None) -> float:
        rest = deadline - time.time()
        return rest if cap is None else min(rest, cap)

    def save() -> None:
        res['wall_s'] = round(time.time() - t_start, 1)
        write_results(res, out)

    def fail(msg: str) -> None:
        res['errors'].append(msg)
        echo(f'ERROR: {msg.splitlines()[0]}')
        save()

    try:
        res['install'] = prepare_stack(wheelhouse, work)
        if res['install']:
            echo(f'[install] {len(res["install"]["wheels"])} wheels ({res["install"]["size_mib"]} MiB) into '
                 f'{res["install"]["target"]} in {res["install"]["seconds"]} s')
        import torch  # no CUDA context here: the runs and the numerics (which reports the device) are subprocesses
        if sizes.device == 'cuda' and not torch.cuda.is_available():
            raise RuntimeError('no CUDA device visible to torch; use --tiny for the CPU path')
    except Exception as e:  # noqa: BLE001 - nothing can run: report and stop
        fail(f'install: {type(e).__name__}: {e}')
        return 2
    env = child_env(single_thread=sizes.device == 'cpu')  # the GPU runs: the libraries' own thread counts
    if sizes.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    sampler = GpuSampler(work / 'nvidia_smi.csv')
    try:
        res['nvidia_smi'] = sampler.start()
        _stages(res, sizes, work, env, sampler, left, save, fail)
    except Exception as e:  # noqa: BLE001 - a bug or a broken machine: keep what was measured, say what broke
        import traceback
        fail(f'check aborted: {type(e).__name__}: {e}\n{traceback.format_exc()}')
    finally:
        sampler.stop()
        res['checks'] = checks(res)
        res['ok'] = all(res['checks'].values()) and not res['errors']
        save()
        try:
            pack_logs(work, out)
        except OSError as e:
            echo(f'(logs not packed: {e})')
    echo('')
    echo(markdown(res))
    echo(f'results: {out / RESULT_JSON}, {out / RESULT_MD}, {out / RESULT_LOGS}')
    return 0 if res['ok'] else 1


def _stages(res: dict, sizes: Sizes, work: Path, env: dict, sampler: GpuSampler, left, save, fail) -> None:
    """Data, numerics, the two pretrainings, export, fine-tuning and test, recorded into ``res``."""
    from ..experiments.plan import tool

    data = make_data(work, sizes, workers=min(16, os.cpu_count() or 1) if sizes.device == 'cuda' else 1)
    res['data'] = data
    echo(f'[data] {data["freihand_images"]} FreiHAND training images + {data["yt3dh_frames"]} YouTube3DHands '
         f'frames, {data["num_eval"]} evaluation samples, in {data["seconds"]} s')
    save()
    fh, yt, cfgs, logs = Path(data['freihand']), Path(data['yt3dh']), configs(), work / 'logs'

    # 1. numerics
    num_json = work / 'numerics.json'
    cmd = [PY, '-m', 'peclr_lab.gpu_check.numerics', str(num_json), '--device', sizes.device,
           '--backend', 'nccl' if sizes.device == 'cuda' else 'gloo', '--images', str(sizes.numeric_images),
           '--size', str(sizes.numeric_size)]
    cmd += ['--model-options', *NO_DOWNLOAD, *(TINY_PRETRAIN_MODEL if sizes.device == 'cpu' else [])]
    run = run_step('numerics', cmd, logs / 'numerics.log', env, left(sizes.run_cap_s))
    if num_json.exists():
        rec = json.loads(num_json.read_text())
        res['environment'], res['numerics'] = rec.get('environment'), rec.get('numerics')
    if not run.ok:
        fail(run.error())
    save()

    # 2. pretraining, PeCLR then SimCLR: the same data, pipeline and options
    for algo in ('peclr', 'simclr'):
        if left() < 30:
            res['runs'][algo] = dict(status='skipped: budget')
            fail(f'pretrain/{algo}: skipped, the budget is spent')
            continue
        w = work / 'runs' / f'pretrain_{algo}'
        opts = pretrain_options(sizes, fh, yt, cfgs[algo])
        run = run_step(f'pretrain/{algo}', torchrun(tool('pretrain_train'), cfgs[algo], w, opts),
                       logs / f'pretrain_{algo}.log', env, left(sizes.run_cap_s))
        res['runs'][algo] = measure(run, w, cfgs[algo], opts, sizes, sampler)
        if not run.ok:
            fail(run.error())
        save()
    p, s = res['runs'].get('peclr', {}), res['runs'].get('simclr', {})
    if 'images_per_s' in p and 'images_per_s' in s:
        res['peclr_over_simclr'] = round(p['images_per_s'] / s['images_per_s'], 4)

    # 3. export the PeCLR backbone; fine-tune from it (from scratch if there is none, to measure the path anyway)
    ckpt = work / 'runs' / 'pretrain_peclr' / f'iter_{sizes.pretrain_iters}.pth'
    backbone = work / 'runs' / 'pretrain_peclr' / 'backbone.pth'
    if ckpt.exists() and left() > 30:
        run = run_step('export', [PY, tool('export'), ckpt, backbone], logs / 'export.log', env, left(120))
        if not run.ok:
            fail(run.error())
    if left() < 30:
        res['runs']['finetune'] = dict(status='skipped: budget')
        fail('finetune: skipped, the budget is spent')
        return
    config = cfgs['finetune']
    if not backbone.exists():
        config = scratch_config()
        fail('finetune: no exported PeCLR backbone; fine-tuning from scratch instead')
    w = work / 'runs' / 'finetune'
    opts = finetune_options(sizes, fh, backbone if backbone.exists() else None)
    run = run_step('finetune', torchrun(tool('pose_train'), config, w, opts), logs / 'finetune.log', env,
                   left(sizes.run_cap_s))
    rec = res['runs']['finetune'] = measure(run, w, config, opts, sizes, sampler)
    rec['config'] = config.name
    if run.ok:
        try:
            rec['val_metrics'] = val_metrics(w)
        except (FileNotFoundError, ValueError) as e:
            fail(f'finetune: no validation metrics ({e})')
        rec['backbone_loaded_cleanly'] = loaded_cleanly(run.log)
        if not rec['backbone_loaded_cleanly']:
            fail('finetune: the exported backbone did not load cleanly (missing/unexpected keys)')
    else:
        fail(run.error())
    save()

    # 4. test the last checkpoint on the evaluation split (FreiHandMetric, Codalab pred.json)
    last = w / f'iter_{sizes.finetune_iters}.pth'
    if not last.exists() or left() < 20:
        res['runs']['test'] = dict(status='skipped: ' + ('no checkpoint' if not last.exists() else 'budget'))
        fail(f'test: {res["runs"]["test"]["status"]}')
        return
    pred = w / 'pred.json'
    run = run_step('test', [PY, tool('pose_test'), config, last, '--work-dir', w / 'test', '--cfg-options',
                            *test_options(sizes, fh, pred)], logs / 'test.log', env, left(sizes.run_cap_s))
    res['runs']['test'] = dict(wall_s=run.wall_s, ok=run.ok, pred_json=pred.exists())
    if run.ok:
        res['test_metrics'] = test_metrics(w / 'test')
    else:
        fail(run.error())
    save()
