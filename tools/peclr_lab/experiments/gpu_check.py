"""GPU readiness check (``tools/gpu_check.py``): the paper-scale configs, end to end, on one GPU in minutes.

One command, made for a short lease of a GPU machine that has torch but none of the OpenMMLab stack and no
network (docs/gpu.md):

1. install the wheelhouse (``tools/build_device_wheels.sh`` builds ``device_wheels/``) into a temporary
   ``--target`` folder, when the stack is not importable already;
2. render a synthetic FreiHAND set and a synthetic YouTube3DHands set from its evaluation frames, so the
   pretraining reads the paper's mixed dataset;
3. numerical checks in a subprocess (:func:`numerics`): PeCLR's loss and gradients of the paper's ResNet-50
   on the GPU in fp32 (TF32 off) and bf16 autocast against float64 on the CPU, and the cross-rank gather
   (:class:`~peclr_mm.selfsup.gather._AllGather`) and PeCLR's loss through it under a 1-process NCCL group;
4. through the upstream ``tools/train.py`` (torchrun, 1 process, ``--launcher pytorch``: NCCL, SyncBN, DDP
   as on 8 GPUs) and the project's configs, each with ``--cfg-options`` only (data roots, an iteration
   budget, random initialisation in place of the ImageNet download, bf16 AMP for the fine-tuning): the
   release-recipe PeCLR ResNet-50 at 128 px (its 50:50 sampler, views, LARS-wrapped Adam over 16 accumulated
   batches, fp16 AMP), the release's SimCLR on the same data and pipeline,
   then export of the PeCLR backbone and the 2.5-D ResNet-50 fine-tuning at 224 px from it, with a
   validation at the end and ``tools/test.py`` (``FreiHandMetric``) on the evaluation split;
5. images/s and the loader's share of each run from mmengine's ``vis_data/scalars.json`` (``time``,
   ``data_time``, warm-up windows left out), GPU utilisation and memory from ``nvidia-smi`` sampled every
   500 ms, peak memory from mmengine's logged ``memory`` and ``torch.cuda.max_memory_allocated``;
6. ``gpu_check.json``, ``gpu_check.md`` and ``gpu_check_logs.tar.gz`` into ``--out`` (``$OUT`` on the
   device machine), the JSON rewritten after every step so a run cut short still reports what it did.

``--tiny`` runs the same steps on the CPU (ResNet-18 at width 16, a few iterations, fp32, gloo) in about a
minute; ``tests/test_gpu_check.py`` runs it, so CI keeps the GPU path's code working between leases.
Importing this module imports neither torch nor the OpenMMLab packages.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from peclr_mm.fileio import atomic_write_json, atomic_write_text

from .stages import merged_config

ROOT = Path(__file__).resolve().parents[3]
PY = sys.executable
SCHEMA = 1
RESULT_JSON, RESULT_MD, RESULT_LOGS = 'gpu_check.json', 'gpu_check.md', 'gpu_check_logs.tar.gz'
STACK_MODULES = ('mmengine', 'mmcv', 'mmpretrain', 'mmpose', 'mmdet', 'xtcocotools')


# -- sizes -----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Sizes:
    """What one mode runs. ``None`` batch / workers: the config's own (128 and 8 for the pretraining, 64
    and 4 for the fine-tuning: the paper's per-GPU values)."""

    num_train: int  # synthetic FreiHAND training samples (4 image versions each)
    num_eval: int  # evaluation samples; their frames are also the synthetic YouTube3DHands set
    pretrain_iters: int
    finetune_iters: int
    window: int  # mmengine's log interval and LogProcessor window: one scalars.json record per window
    warmup_windows: int  # windows left out of the throughput (cudnn autotuning, workers filling up)
    pretrain_batch: int | None
    finetune_batch: int | None
    workers: int | None
    numeric_images: int  # images (2 views each) of the numerical check
    numeric_size: int  # their side in pixels
    budget_s: float  # wall-clock budget of the whole check; later steps are skipped past it
    run_cap_s: float  # the most one run (numerics, a training, the test) may take; killed past it
    amp: bool  # bf16 autocast (AmpOptimWrapper) in training
    device: str  # 'cuda' or 'cpu'


GPU = Sizes(num_train=512, num_eval=256, pretrain_iters=300, finetune_iters=300, window=10, warmup_windows=5,
            pretrain_batch=None, finetune_batch=None, workers=None, numeric_images=16, numeric_size=128,
            budget_s=450, run_cap_s=150, amp=True, device='cuda')
TINY = Sizes(num_train=8, num_eval=4, pretrain_iters=4, finetune_iters=4, window=1, warmup_windows=1,
             pretrain_batch=4, finetune_batch=4, workers=1, numeric_images=4, numeric_size=64,
             budget_s=600, run_cap_s=300, amp=False, device='cpu')

# --tiny: the same configs at ResNet-18 width 16 (8 x 16 = 128 output channels), plain BN (SyncBN refuses CPU
# tensors inside a process group) and gloo.
TINY_BACKBONE = ['model.backbone.depth=18', 'model.backbone.stem_channels=16', 'model.backbone.base_channels=16']
TINY_PRETRAIN_MODEL = [*TINY_BACKBONE, 'model.neck.in_channels=128', 'model.backbone.norm_cfg.type=BN',
                       'model.neck.norm_cfg.type=BN1d']
TINY_FINETUNE_MODEL = [*TINY_BACKBONE, 'model.head.in_channels=128']
# The device machine cannot download the release configs' ImageNet weights (torchvision://resnet50): the check
# measures speed and numerics from mmpretrain's random initialisation.
NO_DOWNLOAD = ['model.backbone.init_cfg=None']


def configs() -> dict[str, Path]:
    """The project's paper-scale configs that the check runs (the paper plan's lookups)."""
    from .plan import finetune_config, pretrain_config
    return dict(peclr=pretrain_config('peclr', 'rn50')[0], simclr=pretrain_config('simclr', 'rn50')[0],
                finetune=finetune_config('peclr', 1.0, 'rn50')[0])


# -- the command lines -----------------------------------------------------------------------------------

def _loop(iters: int, window: int, val: bool = False, keep_sampler: bool = False) -> list[str]:
    """An iteration budget for an epoch-based config: a fresh IterBasedTrainLoop (``_delete_`` drops
    ``max_epochs``), an infinite sampler (no stall at epoch ends) unless ``keep_sampler`` (the release's
    50:50 sampler), log records every ``window`` iterations over windows of that size, one checkpoint at the
    end."""
    opts = ['train_cfg._delete_=True', 'train_cfg.type=IterBasedTrainLoop', f'train_cfg.max_iters={iters}',
            *([] if keep_sampler else ['train_dataloader.sampler.type=InfiniteSampler']),
            'log_processor.by_epoch=False', f'log_processor.window_size={window}',
            f'default_hooks.logger.interval={window}', 'default_hooks.checkpoint.by_epoch=False',
            f'default_hooks.checkpoint.interval={iters}', 'randomness.seed=0']
    if val:
        opts.append(f'train_cfg.val_interval={iters}')
    return opts


def fp32_wrapper_options(config: Path) -> list[str]:
    """--cfg-options that rebuild ``config``'s AMP optimizer wrapper as a plain fp32 ``OptimWrapper`` (AMP
    needs a GPU), the optimizer, constructor and accumulation unchanged."""
    wrapper = config_value(config, [], 'optim_wrapper')
    opts = ['optim_wrapper._delete_=True', 'optim_wrapper.type=OptimWrapper']
    for key, value in wrapper.items():
        if key == 'optimizer':
            opts += [f'optim_wrapper.optimizer.{k}={v}' for k, v in value.items()]
        elif key not in ('type', 'dtype', 'loss_scale'):
            opts.append(f'optim_wrapper.{key}={value}')
    return opts


def _speed(sizes: Sizes, config: Path | None = None) -> list[str]:
    """Device options. A ``config`` whose wrapper is AMP already (the release's fp16) keeps it on the GPU and
    becomes fp32 on the CPU; otherwise bf16 AMP on the GPU."""
    amp_config = config is not None and config_value(config, [], 'optim_wrapper.type') == 'AmpOptimWrapper'
    if sizes.device == 'cpu':
        return ['env_cfg.dist_cfg.backend=gloo', *(fp32_wrapper_options(config) if amp_config else [])]
    opts = ['env_cfg.cudnn_benchmark=True']  # fixed input sizes: the same for every run of the check
    if sizes.amp and not amp_config:
        opts += ['optim_wrapper.type=AmpOptimWrapper', 'optim_wrapper.dtype=bfloat16']
    return opts


def _loader(split: str, batch: int | None, workers: int | None) -> list[str]:
    opts = [] if batch is None else [f'{split}_dataloader.batch_size={batch}']
    return opts + ([] if workers is None else [f'{split}_dataloader.num_workers={workers}'])


def pretrain_options(sizes: Sizes, freihand: Path, yt3dh: Path, config: Path) -> list[str]:
    """--cfg-options of a pretraining run of ``config`` (PeCLR and SimCLR alike): its own sampler and
    precision, random initialisation (:data:`NO_DOWNLOAD`)."""
    opts = [f'train_dataloader.dataset.datasets.0.data_root={freihand}/',
            f'train_dataloader.dataset.datasets.1.data_root={yt3dh}/', *NO_DOWNLOAD,
            *_loop(sizes.pretrain_iters, sizes.window, keep_sampler=True), *_speed(sizes, config),
            *_loader('train', sizes.pretrain_batch, sizes.workers)]
    if sizes.device == 'cpu':
        opts += [*TINY_PRETRAIN_MODEL, 'custom_hooks.0.num_samples=4']
    return opts


def finetune_options(sizes: Sizes, freihand: Path, backbone: Path | None) -> list[str]:
    """--cfg-options of the fine-tuning run (validation on the held-out 5 % at its last iteration);
    ``backbone``: the exported pretrained weights (None: the scratch config's initialisation)."""
    opts = [f'{split}_dataloader.dataset.data_root={freihand}/' for split in ('train', 'val', 'test')]
    if backbone is not None:
        opts.append(f'model.backbone.init_cfg.checkpoint={backbone}')
    opts += [*_loop(sizes.finetune_iters, sizes.window, val=True),
             *_speed(sizes), *_loader('train', sizes.finetune_batch, sizes.workers),
             *_loader('val', sizes.finetune_batch, sizes.workers)]
    if sizes.device == 'cpu':
        opts += TINY_FINETUNE_MODEL
    return opts


def test_options(sizes: Sizes, freihand: Path, pred: Path) -> list[str]:
    opts = [f'test_dataloader.dataset.data_root={freihand}/', f'test_evaluator.pred_json={pred}',
            *_loader('test', sizes.finetune_batch, sizes.workers)]
    if sizes.device == 'cpu':
        opts += TINY_FINETUNE_MODEL
    return opts


def torchrun(script: Path, config: Path, work: Path, options: Sequence[str]) -> list[str]:
    """One process through torch.distributed.run and ``--launcher pytorch``: the multi-GPU code path (process
    group, SyncBN, DDP wrapper, PeCLR's gather) on one device."""
    return [PY, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '1', str(script), str(config),
            '--launcher', 'pytorch', '--work-dir', str(work), '--cfg-options', *options]


# -- the wheelhouse --------------------------------------------------------------------------------------

def stack_importable() -> bool:
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in STACK_MODULES)


def install_wheelhouse(wheelhouse: Path, target: Path) -> dict:
    """``pip install --no-index --no-deps --target`` every wheel of ``wheelhouse``, put ``target`` first on
    ``sys.path`` and ``PYTHONPATH`` (subprocesses inherit it). Returns what was installed and how long it took.
    Byte-compiled at install: pip silences the SyntaxWarnings (invalid escapes in upstream docstrings) that
    Python 3.12 would print at each package's first import."""
    wheels = sorted(Path(wheelhouse).glob('*.whl'))
    if not wheels:
        raise FileNotFoundError(f'{wheelhouse}: no wheels (build them with tools/build_device_wheels.sh)')
    t0 = time.time()
    target = Path(target)
    subprocess.run([PY, '-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--no-index', '--no-deps',
                    '--no-cache-dir', '--upgrade', '--target', str(target), *map(str, wheels)],
                   check=True)
    activate_site(target)
    return dict(wheelhouse=str(wheelhouse), target=str(target), wheels=[w.name for w in wheels],
                size_mib=round(sum(w.stat().st_size for w in wheels) / 2**20, 2), seconds=round(time.time() - t0, 1))


def activate_site(target: Path) -> None:
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))
    paths = [str(target)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    os.environ['PYTHONPATH'] = os.pathsep.join(dict.fromkeys(paths))


def prepare_stack(wheelhouse: str, work: Path) -> dict | None:
    """``wheelhouse``: ``'auto'`` installs ``device_wheels/`` only when the stack is not importable, ``'none'``
    never installs, a path always does."""
    if wheelhouse == 'none':
        return None
    if wheelhouse == 'auto':
        default = ROOT / 'device_wheels'
        if stack_importable():
            return None
        if not default.is_dir():
            raise RuntimeError('the OpenMMLab stack is not importable and there is no device_wheels/ '
                               '(tools/build_device_wheels.sh; on the device machine carry it: docs/gpu.md)')
        wheelhouse = str(default)
    return install_wheelhouse(Path(wheelhouse), work / 'site')


# -- data ------------------------------------------------------------------------------------------------

def write_yt3dh(freihand: Path, out: Path) -> Path:
    """A YouTube3DHands-format set (``youtube_train.json`` + frames) from the evaluation split of a
    synthetic FreiHAND folder: its images as frames, its mesh projected to pixels as the annotation's
    ``vertices``, every other hand marked left (mirrored by the dataset, as the release's left hands)."""
    import numpy as np

    from peclr_mm.freihand import annotation_file, read_field, split_layout
    from peclr_mm.geometry import project

    xyz = read_field(annotation_file(freihand, 'evaluation', 'xyz'), 'xyz')
    K = read_field(annotation_file(freihand, 'evaluation', 'K'), 'K', length=len(xyz))
    verts = read_field(annotation_file(freihand, 'evaluation', 'verts'), 'verts', length=len(xyz))
    uv = project(verts, K)
    frames = out / 'frames'
    frames.mkdir(parents=True, exist_ok=True)
    rgb = Path(split_layout(freihand, 'evaluation').rgb_dir)
    images, anns = [], []
    for i in range(len(xyz)):
        name = f'frames/{i:08d}.jpg'
        shutil.copyfile(rgb / f'{i:08d}.jpg', out / name)
        images.append(dict(id=i, name=name))
        v = np.concatenate([uv[i], verts[i, :, 2:] * 1000], axis=1)
        anns.append(dict(image_id=i, is_left=i % 2, vertices=np.round(v, 2).tolist()))
    (out / 'youtube_train.json').write_text(json.dumps(dict(images=images, annotations=anns)))
    return out


def make_data(work: Path, sizes: Sizes, workers: int) -> dict:
    from ..synthetic import make_synthetic_freihand
    t0 = time.time()
    fh = make_synthetic_freihand(work / 'freihand', sizes.num_train, sizes.num_eval, size=224, seed=0,
                                 workers=workers, overwrite=True, progress=False)
    yt = work / 'yt3dh'
    shutil.rmtree(yt, ignore_errors=True)
    write_yt3dh(fh, yt)
    return dict(freihand=str(fh), yt3dh=str(yt), num_train=sizes.num_train, freihand_images=4 * sizes.num_train,
                num_eval=sizes.num_eval, yt3dh_frames=sizes.num_eval, image_size=224,
                seconds=round(time.time() - t0, 1))


# -- running and measuring -------------------------------------------------------------------------------

def echo(text: str) -> None:
    sys.stdout.write(text.rstrip('\n') + '\n')
    sys.stdout.flush()


class GpuSampler:
    """``nvidia-smi`` utilisation and memory every 500 ms in the background (nothing without nvidia-smi)."""

    QUERY = ['nvidia-smi', '--query-gpu=utilization.gpu,memory.used', '--format=csv,noheader,nounits', '-lms', '500']

    def __init__(self, log: Path) -> None:
        self.log = log
        self.samples: list[tuple[float, float, float]] = []  # (time, util %, memory MiB)
        self.proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        if shutil.which('nvidia-smi') is None:
            return False
        self.proc = subprocess.Popen(self.QUERY, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return True

    def _read(self) -> None:
        with open(self.log, 'w') as f:
            for line in self.proc.stdout:
                f.write(f'{time.time():.3f}, {line}')
                parsed = parse_smi_line(line)
                if parsed is not None:
                    self.samples.append((time.time(), *parsed))

    def window(self, t0: float | None, t1: float | None) -> dict | None:
        if t0 is None or t1 is None:
            return None
        return gpu_stats([s for s in self.samples if t0 <= s[0] <= t1])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def parse_smi_line(line: str) -> tuple[float, float] | None:
    """``'87, 14230'`` -> (87.0, 14230.0); the first GPU's line only matters (one GPU)."""
    parts = [p.strip() for p in line.split(',')]
    try:
        return float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        return None


def gpu_stats(samples: Sequence[tuple[float, float, float]]) -> dict | None:
    if not samples:
        return None
    util = [s[1] for s in samples]
    return dict(util_mean=round(statistics.fmean(util), 1), util_median=round(statistics.median(util), 1),
                util_min=min(util), mem_used_mib_max=max(s[2] for s in samples), samples=len(samples))


_TRAIN_ITER = re.compile(r'Iter\(train\)\s*\[\s*(\d+)/(\d+)\]')
_ANY_ITER = re.compile(r'Iter\((train|val|test)\)\s*\[\s*(\d+)/(\d+)\]')
_LOSS = re.compile(r'\bloss: ([-\d.e+naif]+)')


@dataclasses.dataclass
class StageRun:
    name: str
    rc: int | None = None
    wall_s: float = 0.0
    timed_out: bool = False
    iter_times: dict[int, float] = dataclasses.field(default_factory=dict)  # train iteration -> arrival time
    log: str = ''

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def error(self, lines: int = 30) -> str:
        text = Path(self.log).read_text(errors='replace') if self.log and Path(self.log).exists() else ''
        tail = ''.join(text.splitlines(keepends=True)[-lines:])
        what = 'timed out' if self.timed_out else f'exit status {self.rc}'
        return f'{self.name}: {what}\n{tail}'


def run_logged(name: str, cmd: Sequence[str], log: Path, env: dict, timeout: float) -> StageRun:
    """Run ``cmd`` (own process group, killed whole at ``timeout``), stream its output to ``log``, echo
    mmengine's iteration lines and note when each training iteration's line arrived."""
    run = StageRun(name, log=str(log))
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = ' '.join(os.path.relpath(c, ROOT) if str(c).startswith(str(ROOT)) else str(c) for c in cmd)
    echo(f'[{name}] {shown}')
    t0 = time.time()
    with open(log, 'w') as f:
        f.write(f'$ {" ".join(map(str, cmd))}\n')
        proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)

        def kill() -> None:
            run.timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(max(1.0, timeout), kill)
        timer.start()
        try:
            for line in proc.stdout:
                f.write(line)
                now = time.time()
                m = _TRAIN_ITER.search(line)
                if m:
                    run.iter_times[int(m.group(1))] = now
                m = _ANY_ITER.search(line)
                if m:
                    loss = _LOSS.search(line)
                    echo(f'  [{name}] {m.group(1)} {m.group(2)}/{m.group(3)}'
                         + (f' loss {loss.group(1)}' if loss else '') + f' ({now - t0:.0f} s)')
                elif 'Traceback' in line or 'Error' in line:
                    echo(f'  [{name}] {line.rstrip()}')
            run.rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                kill()
                proc.wait()
    run.wall_s = round(time.time() - t0, 1)
    echo(f'[{name}] {"finished" if run.ok else "FAILED"} in {run.wall_s:.0f} s')
    return run


def read_scalars(work: Path) -> list[dict]:
    """The training records (``iter``, ``time``, ``data_time``; not the validation's, which has the last two too)
    of the newest ``vis_data/scalars.json`` under ``work``."""
    from .results import load_scalars
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


def wall_throughput(run: StageRun, batch: int, warmup_steps: int) -> float | None:
    """Images/s from the arrival times of the logged iterations (a cross-check of mmengine's ``time``)."""
    steps = sorted(s for s in run.iter_times if s >= warmup_steps)
    if len(steps) < 2:
        return None
    a, b = steps[0], steps[-1]
    dt = run.iter_times[b] - run.iter_times[a]
    return round((b - a) * batch / dt, 1) if dt > 0 else None


def config_value(config: Path, options: Sequence[str], key: str):
    """``key`` (dotted, list indices as numbers) of ``config`` with ``options`` merged."""
    value = merged_config(config, options)
    for part in key.split('.'):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _test_metrics(test_dir: Path) -> dict:
    from .results import read_test_metrics
    return read_test_metrics(test_dir)


def _val_metrics(work: Path) -> dict:
    from .results import load_scalars
    recs = load_scalars(work, 'freihand/')
    return {k.split('/', 1)[1]: v for k, v in recs[-1].items() if k.startswith('freihand/')} if recs else {}


# -- numerical checks (a subprocess: python -m peclr_lab.experiments.gpu_check numerics ...) -----------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rel(a, b) -> float:
    import torch
    a, b = a.detach().double().cpu().flatten(), b.detach().double().cpu().flatten()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-30))


def _batch(n: int, size: int, seed: int = 0):
    """Two random views (n, 3, size, size) and random similarity transforms (n, 2, 3, 3), float64, in
    normalised view coordinates (``aug_norm``; shift std a tenth of the view side)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(n, 3, size, size, generator=g, dtype=torch.float64) for _ in range(2)]
    th = (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * 1.5
    s = 0.8 + 0.4 * torch.rand(n, 2, generator=g, dtype=torch.float64)
    aug = torch.zeros(n, 2, 3, 3, dtype=torch.float64)
    aug[..., 0, 0], aug[..., 0, 1] = s * torch.cos(th), -s * torch.sin(th)
    aug[..., 1, 0], aug[..., 1, 1] = s * torch.sin(th), s * torch.cos(th)
    aug[..., :2, 2] = torch.randn(n, 2, 2, generator=g, dtype=torch.float64) * 0.1
    aug[..., 2, 2] = 1
    return views, aug


def _loss_grads(model, views, aug, device: str, dtype, autocast: bool = False):
    """PeCLR's loss and all parameter gradients (float64, CPU) of ``model`` on ``device`` in ``dtype``
    (inputs and matrices), optionally under bf16 autocast."""
    import torch
    from mmpretrain.structures import DataSample
    samples = []
    for a in aug:
        ds = DataSample()
        ds.set_field(a.to(device=device, dtype=dtype), 'aug_norm')
        samples.append(ds)
    model.zero_grad(set_to_none=True)
    inputs = [v.to(device=device, dtype=dtype) for v in views]
    with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
        loss = model.loss(inputs, samples)['loss']
    loss.float().backward()
    grads = torch.cat([p.grad.detach().double().cpu().flatten() for p in model.parameters() if p.grad is not None])
    return loss.detach().double().cpu(), grads


def numerics(model_options: Sequence[str], n: int, size: int, device: str, backend: str) -> dict:
    """PeCLR's loss and gradients on ``device`` against float64 on the CPU; the gather under a 1-process
    ``backend`` group. Returns the errors, the tolerances and the verdicts."""
    import copy
    from unittest import mock

    import torch
    import torch.distributed as dist
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import peclr_mm.selfsup  # noqa: F401  (registers PeCLR)
    from peclr_mm.selfsup import gather as gather_mod
    from peclr_mm.selfsup import peclr as peclr_mod

    init_default_scope('mmpretrain')
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    cfg_model = config_value(configs()['peclr'], list(model_options), 'model')
    out: dict = dict(device=device, backend=backend, images=n, size=size,
                     model=f'{cfg_model.backbone.type}-{cfg_model.backbone.get("depth", "")}')
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg_model))  # same weights on both devices; BN in train mode
    model.init_weights()
    model.train()
    views, aug = _batch(n, size)
    t0 = time.time()
    ref_loss, ref_grads = _loss_grads(copy.deepcopy(model).double(), views, aug, 'cpu', torch.float64)
    out['cpu_float64_s'] = round(time.time() - t0, 2)
    dev_model = copy.deepcopy(model).to(device)
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    loss32, grads32 = _loss_grads(dev_model, views, aug, device, torch.float32)
    lossbf, gradsbf = _loss_grads(dev_model, views, aug, device, torch.float32, autocast=True)
    # fp32 gradients through train-mode BN are ill-conditioned at initialisation (the batch-statistics backward
    # cancels): ResNet-50 on 16 pairs at 128 px gives ~2e-2 against float64 on the CPU in fp32 too (eval-mode
    # BN: ~6e-4). So the device's fp32 gradients are held to the CPU's own fp32 error (x3), the loss to 1e-4.
    cpu32_grads = grads32 if device == 'cpu' else _loss_grads(copy.deepcopy(model), views, aug, 'cpu',
                                                               torch.float32)[1]
    out['loss'] = dict(cpu_float64=float(ref_loss), fp32=float(loss32), bf16_autocast=float(lossbf))
    out['rel_err'] = dict(loss_fp32=_rel(loss32, ref_loss), grads_fp32=_rel(grads32, ref_grads),
                          grads_cpu_fp32=_rel(cpu32_grads, ref_grads), loss_bf16=_rel(lossbf, ref_loss),
                          grads_bf16=_rel(gradsbf, ref_grads))
    out['grads_cosine'] = dict(fp32=float(torch.nn.functional.cosine_similarity(grads32, ref_grads, dim=0)),
                               bf16=float(torch.nn.functional.cosine_similarity(gradsbf, ref_grads, dim=0)))
    tol = dict(loss_fp32=1e-4, grads_fp32=max(1e-4, 3 * out['rel_err']['grads_cpu_fp32']), loss_bf16=5e-2)
    out['tol'] = tol
    checks = {k: out['rel_err'][k] <= v for k, v in tol.items()}

    # The gather under a real 1-process group: forward concatenates (here: copies) exactly, backward
    # all-reduces exactly, and PeCLR's loss / gradients through the forced gather equal those without it.
    dist.init_process_group(backend, init_method=f'tcp://127.0.0.1:{_free_port()}', rank=0, world_size=1)
    try:
        x = torch.randn(2 * n, 128, device=device, requires_grad=True)
        y = torch.cat(gather_mod._AllGather.apply(x), 0)
        g = torch.randn_like(y)
        y.backward(g)
        checks['gather_forward_exact'] = bool(torch.equal(y.detach(), x.detach()))
        checks['gather_backward_exact'] = bool(torch.equal(x.grad, g))
        checks['gather_identity_at_world_1'] = gather_mod.all_gather_with_grad(x) is x

        def forced(z):
            return torch.cat(gather_mod._AllGather.apply(z), 0)

        with mock.patch.object(peclr_mod, 'all_gather_with_grad', forced):
            g_loss, g_grads = _loss_grads(dev_model, views, aug, device, torch.float32)
        # against the fp32 loss above: the same call without the forced gather
        out['rel_err']['gather_loss'] = _rel(g_loss, loss32)
        out['rel_err']['gather_grads'] = _rel(g_grads, grads32)
        checks['gather_loss'] = out['rel_err']['gather_loss'] <= 1e-6
        checks['gather_grads'] = out['rel_err']['gather_grads'] <= 1e-6
        out['backend_seen'] = dist.get_backend()
    finally:
        dist.destroy_process_group()
    if device == 'cuda':
        out['max_memory_allocated_mib'] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    out['checks'] = checks
    out['ok'] = all(checks.values())
    return out


def environment() -> dict:
    """Versions and the device, for the report (imports torch and the stack)."""
    import importlib.metadata as md

    import numpy
    import torch
    env = dict(python=platform.python_version(), torch=torch.__version__, torch_cuda=torch.version.cuda,
               numpy=numpy.__version__, host=platform.node())
    for name in ('mmengine', 'mmcv', 'mmpretrain', 'mmpose', 'mmdet', 'xtcocotools', 'torchvision'):
        try:
            env[name] = md.version(name)
        except md.PackageNotFoundError:
            env[name] = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), capability=f'{p.major}.{p.minor}',
                   cudnn=torch.backends.cudnn.version())
        try:
            v = torch.cuda.nccl.version()
            env['nccl'] = '.'.join(map(str, v)) if isinstance(v, tuple) else str(v)
        except Exception as e:  # noqa: BLE001 - informational
            env['nccl'] = f'unknown ({type(e).__name__})'
    try:  # the compiled ops load (CPU kernels); whether they have CUDA kernels is reported, not needed
        from mmcv.ops import nms
        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
        env['mmcv_ops_cpu'] = len(nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)[1]) == 2
        if torch.cuda.is_available():
            try:
                nms(boxes.cuda(), torch.tensor([0.9, 0.8, 0.7]).cuda(), 0.5)
                env['mmcv_ops_cuda'] = True
            except Exception as e:  # noqa: BLE001 - a CPU-only build of the ops: reported, not needed here
                env['mmcv_ops_cuda'] = f'no ({type(e).__name__})'
    except Exception as e:  # noqa: BLE001
        env['mmcv_ops_cpu'] = f'failed: {type(e).__name__}: {e}'
    return env


def numerics_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog='python -m peclr_lab.experiments.gpu_check numerics')
    p.add_argument('out')
    p.add_argument('--device', default='cuda')
    p.add_argument('--backend', default='nccl')
    p.add_argument('--images', type=int, default=16)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--model-options', nargs='*', default=[])
    a = p.parse_args(argv)
    try:
        res = dict(environment=environment())
    except Exception as e:  # noqa: BLE001 - the versions are informational; the checks still run
        res = dict(environment=dict(error=f'{type(e).__name__}: {e}'))
    atomic_write_json(a.out, res)  # the environment even if the checks crash
    res['numerics'] = numerics(a.model_options, a.images, a.size, a.device, a.backend)
    atomic_write_json(a.out, res)
    print(json.dumps(res['numerics']['rel_err']))
    return 0 if res['numerics']['ok'] else 1


# -- the report ------------------------------------------------------------------------------------------

def _fmt(x, spec: str = '.1f', unit: str = '') -> str:
    if x is None:
        return '–'
    return f'{x:{spec}}{unit}'


def markdown(res: dict) -> str:
    env = res.get('environment', {})
    card = env.get('gpu') or 'CPU (--tiny)'
    lines = [f'## peclr-mm GPU check, {res.get("date", "?")}, {card}', '',
             f'torch {env.get("torch")} (CUDA {env.get("torch_cuda")}), numpy {env.get("numpy")}, mmcv {env.get("mmcv")}, '
             f'mmengine {env.get("mmengine")}, mmpretrain {env.get("mmpretrain")}, mmpose {env.get("mmpose")}; '
             f'mode {res.get("mode")}; wall {_fmt(res.get("wall_s"), ".0f", " s")} (install '
             f'{_fmt((res.get("install") or {}).get("seconds"), ".0f", " s")}, data '
             f'{_fmt((res.get("data") or {}).get("seconds"), ".0f", " s")})', '',
             '| run | iters | batch | images/s | s/iter | loader share | GPU util (mean) | peak alloc (MiB) '
             '| nvidia-smi used (MiB) | loss first → last | wall |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for key, label in (('peclr', 'PeCLR pretrain'), ('simclr', 'SimCLR pretrain'), ('finetune', '2.5-D fine-tune')):
        r = res.get('runs', {}).get(key)
        if not r:
            continue
        if 'images_per_s' not in r:
            lines.append(f'| {label} | – | – | – | – | – | – | – | – | {r.get("status", "failed")} | '
                         f'{_fmt(r.get("wall_s"), ".0f", " s")} |')
            continue
        gpu = r.get('gpu') or {}
        lines.append(f'| {label} | {r["last_step"]} | {r["batch"]} | {r["images_per_s"]:.1f} | {r["s_per_iter"]:.3f} | '
                     f'{100 * r["loader_share"]:.1f} % | {_fmt(gpu.get("util_mean"), ".0f", " %")} | '
                     f'{_fmt(r.get("max_memory_mib"), ".0f")} | {_fmt(gpu.get("mem_used_mib_max"), ".0f")} | '
                     f'{_fmt(r.get("loss_first"), ".3f")} → {_fmt(r.get("loss_last"), ".3f")} | {r["wall_s"]:.0f} s |')
    ratio = res.get('peclr_over_simclr')
    if ratio is not None:
        lines += ['', f'PeCLR / SimCLR images/s: {ratio:.3f}']
    test = res.get('test_metrics')
    if test:
        lines += ['', 'Test (FreiHandMetric on the synthetic evaluation split; proves the path, not the accuracy): '
                  + ', '.join(f'{k} {v:.2f}' for k, v in test.items() if isinstance(v, float))]
    num = res.get('numerics')
    if num and 'rel_err' in num:
        e = num['rel_err']
        lines += ['', f'Numerics ({num["device"]} vs float64 CPU, PeCLR {num.get("model", "")}, {num["images"]} images at '
                  f'{num["size"]} px): loss fp32 {e["loss_fp32"]:.1e}, grads fp32 {e["grads_fp32"]:.1e} (CPU fp32: '
                  f'{e.get("grads_cpu_fp32", float("nan")):.1e}), '
                  f'loss bf16 {e["loss_bf16"]:.1e}, grads bf16 {e["grads_bf16"]:.1e}; gather under a 1-process '
                  f'{num.get("backend_seen", num["backend"])} group: loss {e.get("gather_loss", float("nan")):.1e}, '
                  f'grads {e.get("gather_grads", float("nan")):.1e}; '
                  + ('all checks pass' if num.get('ok') else 'FAILED: ' + ', '.join(
                      k for k, v in num.get('checks', {}).items() if not v)),
                  f'Peak GPU memory of the numerics: {_fmt(num.get("max_memory_allocated_mib"), ".0f", " MiB")}']
    if res.get('errors'):
        lines += ['', 'Errors: ' + '; '.join(e.splitlines()[0] for e in res['errors'])]
    lines += ['', f'Overall: {"PASS" if res.get("ok") else "FAIL"}']
    return '\n'.join(lines) + '\n'


def write_results(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / RESULT_JSON, res)
    atomic_write_text(out / RESULT_MD, markdown(res))


def pack_logs(work: Path, out: Path) -> None:
    """Stage logs, nvidia-smi samples, the numerics json and mmengine's own logs and dumped configs."""
    with tarfile.open(out / RESULT_LOGS, 'w:gz') as tar:
        for p in sorted(work.rglob('*')):
            if p.is_file() and (p.suffix in ('.log', '.csv') or p.name in ('numerics.json', 'scalars.json')
                                or (p.suffix == '.py' and 'runs' in p.parts)):
                tar.add(p, arcname=str(p.relative_to(work)))


# -- the check -------------------------------------------------------------------------------------------

def sizes_from_args(a: argparse.Namespace) -> Sizes:
    sizes = TINY if a.tiny else GPU
    changes = {k: getattr(a, k) for k in ('num_train', 'num_eval', 'pretrain_iters', 'finetune_iters', 'workers',
                                          'budget_s', 'pretrain_batch', 'finetune_batch')
               if getattr(a, k, None) is not None}
    if a.no_amp:
        changes['amp'] = False
    return dataclasses.replace(sizes, **changes)


def run_check(a: argparse.Namespace) -> int:
    t_start = time.time()
    sizes = sizes_from_args(a)
    work = Path(a.work_dir or tempfile.mkdtemp(prefix='peclr_gpu_check_')).resolve()
    out = Path(a.out or os.environ.get('OUT') or work / 'out').resolve()
    work.mkdir(parents=True, exist_ok=True)
    res: dict = dict(schema=SCHEMA, mode='tiny' if a.tiny else 'gpu', date=datetime.datetime.now().astimezone()
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
        res['install'] = prepare_stack(a.wheelhouse, work)
        if res['install']:
            echo(f'[install] {len(res["install"]["wheels"])} wheels ({res["install"]["size_mib"]} MiB) into '
                 f'{res["install"]["target"]} in {res["install"]["seconds"]} s')
        import torch  # no CUDA context here: the runs and the numerics (which reports the device) are subprocesses
        if sizes.device == 'cuda' and not torch.cuda.is_available():
            raise RuntimeError('no CUDA device visible to torch; use --tiny for the CPU path')
    except Exception as e:  # noqa: BLE001 - nothing can run: report and stop
        fail(f'install: {type(e).__name__}: {e}')
        return 2
    paths = [str(ROOT), *os.environ.get('PYTHONPATH', '').split(os.pathsep)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in dict.fromkeys(paths) if p))
    if sizes.device == 'cpu':
        env.update(CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
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
    from .plan import finetune_config, tool
    from .stages import BAD_LOAD

    data = make_data(work, sizes, workers=min(16, os.cpu_count() or 1) if sizes.device == 'cuda' else 1)
    res['data'] = data
    echo(f'[data] {data["freihand_images"]} FreiHAND training images + {data["yt3dh_frames"]} YouTube3DHands '
         f'frames, {data["num_eval"]} evaluation samples, in {data["seconds"]} s')
    save()
    fh, yt, cfgs, logs = Path(data['freihand']), Path(data['yt3dh']), configs(), work / 'logs'

    # 1. numerics
    num_json = work / 'numerics.json'
    cmd = [PY, '-m', 'peclr_lab.experiments.gpu_check', 'numerics', str(num_json), '--device', sizes.device,
           '--backend', 'nccl' if sizes.device == 'cuda' else 'gloo', '--images', str(sizes.numeric_images),
           '--size', str(sizes.numeric_size)]
    cmd += ['--model-options', *NO_DOWNLOAD, *(TINY_PRETRAIN_MODEL if sizes.device == 'cpu' else [])]
    run = run_logged('numerics', cmd, logs / 'numerics.log', env, left(sizes.run_cap_s))
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
        run = run_logged(f'pretrain/{algo}', torchrun(tool('pretrain_train'), cfgs[algo], w, opts),
                         logs / f'pretrain_{algo}.log', env, left(sizes.run_cap_s))
        res['runs'][algo] = _measure(run, w, cfgs[algo], opts, sizes, sampler)
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
        run = run_logged('export', [PY, tool('export'), ckpt, backbone], logs / 'export.log', env, left(120))
        if not run.ok:
            fail(run.error())
    if left() < 30:
        res['runs']['finetune'] = dict(status='skipped: budget')
        fail('finetune: skipped, the budget is spent')
        return
    config = cfgs['finetune']
    if not backbone.exists():
        config = finetune_config('scratch', 1.0, 'rn50')[0]
        fail('finetune: no exported PeCLR backbone; fine-tuning from scratch instead')
    w = work / 'runs' / 'finetune'
    opts = finetune_options(sizes, fh, backbone if backbone.exists() else None)
    run = run_logged('finetune', torchrun(tool('pose_train'), config, w, opts), logs / 'finetune.log', env,
                     left(sizes.run_cap_s))
    rec = res['runs']['finetune'] = _measure(run, w, config, opts, sizes, sampler)
    rec['config'] = config.name
    if run.ok:
        try:
            rec['val_metrics'] = _val_metrics(w)
        except (FileNotFoundError, ValueError) as e:
            fail(f'finetune: no validation metrics ({e})')
        rec['backbone_loaded_cleanly'] = not any(b in Path(run.log).read_text(errors='replace') for b in BAD_LOAD)
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
    run = run_logged('test', [PY, tool('pose_test'), config, last, '--work-dir', w / 'test', '--cfg-options',
                              *test_options(sizes, fh, pred)], logs / 'test.log', env, left(sizes.run_cap_s))
    res['runs']['test'] = dict(wall_s=run.wall_s, ok=run.ok, pred_json=pred.exists())
    if run.ok:
        res['test_metrics'] = _test_metrics(w / 'test')
    else:
        fail(run.error())
    save()


def _measure(run: StageRun, work: Path, config: Path, opts: Sequence[str], sizes: Sizes,
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='tools/gpu_check.py', description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog='GPU defaults: ' + ', '.join(f'{k} {v}' for k, v in dataclasses.asdict(GPU).items())
                                + '\n--tiny: ' + ', '.join(f'{k} {v}' for k, v in dataclasses.asdict(TINY).items()))
    p.add_argument('--tiny', action='store_true', help='the CPU path: tiny sizes, ResNet-18 w16, fp32, gloo (~1 min)')
    p.add_argument('--out', help='results folder (default: $OUT, else WORK_DIR/out)')
    p.add_argument('--work-dir', help='data, runs and logs (default: a new temporary folder)')
    p.add_argument('--wheelhouse', default='auto',
                   help="wheels to install into WORK_DIR/site: 'auto' (device_wheels/ when the stack is not "
                        "importable), 'none', or a folder")
    for name in ('num_train', 'num_eval', 'pretrain_iters', 'finetune_iters', 'workers', 'pretrain_batch',
                 'finetune_batch'):
        p.add_argument('--' + name.replace('_', '-'), type=int, help=f'override {name}')
    p.add_argument('--budget-s', type=float, help='wall-clock budget; later steps are skipped past it')
    p.add_argument('--no-amp', action='store_true', help='fp32 training on the GPU (no bf16 autocast)')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['numerics']:
        return numerics_main(argv[1:])
    return run_check(parser().parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
