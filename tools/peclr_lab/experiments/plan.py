"""The stage graphs: the demo (:func:`demo_plan`, CPU and GPU presets) and the paper-scale protocol
(:func:`paper_plan`).

One home for the run names, the paths of the tools and the iteration-budget options
(:func:`schedule_options`); the configs come from :mod:`.config_table`. Nothing here
imports mmpretrain or mmpose: the stages are their upstream ``tools/train.py`` / ``tools/test.py``.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from ..config_options import fp32_wrapper_options, merged_config
from ..runner import PY, ROOT
from .config_table import ALGOS, FRACTIONS, INITS, PAPER_INITS, finetune_config, pct, pretrain_config
from .presets import Preset
from .stages import Stage


def _package_dir(name: str) -> Path:
    """Install folder of a package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f'{name} is not installed (make install)')
    return Path(list(spec.submodule_search_locations)[0])


def tool(name: str) -> Path:
    """Path of a tool: ``pretrain_train``, ``pose_train``, ``pose_test`` (upstream, from the packages'
    ``.mim/tools``) or ``export`` / ``probe`` (this repository's ``tools/``)."""
    upstream = {'pretrain_train': ('mmpretrain', 'train.py'), 'pose_train': ('mmpose', 'train.py'),
                'pose_test': ('mmpose', 'test.py')}
    if name in upstream:
        pkg, script = upstream[name]
        return _package_dir(pkg) / '.mim' / 'tools' / script
    return ROOT / 'tools' / {'export': 'export_backbone.py', 'probe': 'linear_probe.py'}[name]


# -- names -----------------------------------------------------------------------------------------------

def run_name(init: str, fraction: float, seed: int | None = None) -> str:
    """Fine-tuning run (folder under ``finetune/``): ``peclr_100pct_s0``; without a seed ``peclr_100pct``
    (the paper-scale plan, one seed)."""
    return f'{init}_{pct(fraction)}' + ('' if seed is None else f'_s{seed}')


def seeded(name: str, seed: int) -> str:
    """Pretraining / probe run (folder under ``pretrain/`` or ``probe/``): ``peclr_s0``."""
    return f'{name}_s{seed}'


# -- budgets and devices -----------------------------------------------------------------------------------

def schedule_options(config: str | Path, iters: int, log_interval: int) -> list[str]:
    """--cfg-options that give an iteration-based config of the demo ``iters`` iterations: the train loop's
    ``max_iters``, every ``param_scheduler`` entry's ``begin``/``end``/``T_max``/``milestones`` rescaled
    from the config's own ``max_iters`` (so a warm-up of 1/10 stays 1/10, at least one iteration), the
    checkpoint at the last iteration and the logger interval. The only place where budgets reach configs."""
    cfg = merged_config(config)
    base = cfg.train_cfg.get('max_iters')
    if not base:
        raise ValueError(f'{config}: not an iteration-based config (train_cfg.max_iters missing)')

    def scale(x: int) -> int:
        if x >= base:  # the end of the schedule (or mmengine's "infinity")
            return iters if x == base else x
        return 0 if x <= 0 else min(iters, max(1, round(x * iters / base)))

    opts = [f'train_cfg.max_iters={iters}']
    val = cfg.train_cfg.get('val_interval')
    if val is not None and val > base:  # "never validate" stays never
        opts.append(f'train_cfg.val_interval={iters + 1}')
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for k, s in enumerate(schedulers):
        if s.get('by_epoch', True):
            raise ValueError(f'{config}: param_scheduler.{k} is epoch-based; the demo needs iterations')
        begin, end = scale(s.get('begin', 0)), scale(s.get('end', base))
        opts += [f'param_scheduler.{k}.begin={begin}', f'param_scheduler.{k}.end={end}']
        if 'T_max' in s:
            opts.append(f'param_scheduler.{k}.T_max={end - begin}')
        if 'milestones' in s:
            opts.append(f'param_scheduler.{k}.milestones=[{",".join(str(scale(m)) for m in s.milestones)}]')
    opts += [f'default_hooks.checkpoint.interval={iters}', f'default_hooks.logger.interval={log_interval}']
    return opts


def device_options(config: str | Path, split: str, device: str, workers: int) -> list[str]:
    """--cfg-options that fit a GPU-scale demo config (scale ``'demo-gpu'`` of :mod:`.config_table`) to this
    machine: the ``split`` loader's workers, and without CUDA (``device='cpu'``) the config's bf16
    ``AmpOptimWrapper`` rebuilt as a plain fp32 ``OptimWrapper`` (mmengine's AMP needs a GPU; the optimizer is
    unchanged)."""
    opts = [f'{split}_dataloader.num_workers={workers}']
    if device == 'cpu' and split == 'train':
        opts += fp32_wrapper_options(Path(config))
    return opts


PRECISIONS = ('fp32', 'bf16')
PROBE_BUDGETS = (200,)  # the geometry probe's label budgets below "all" (those under the probe's images)


def precision_options(precision: str) -> list[str]:
    """--cfg-options of a CPU-scale training stage: ``'bf16'`` runs the config's optimizer inside
    :class:`peclr_mm.training_speed.AutocastOptimWrapper` (bfloat16 autocast; the CPU needs AMX to gain,
    :func:`peclr_mm.training_speed.cpu_has_fast_bf16`), ``'fp32'`` changes nothing."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision: one of {PRECISIONS}, got {precision!r}')
    return ['optim_wrapper.type=AutocastOptimWrapper', 'optim_wrapper.dtype=bfloat16'] if precision == 'bf16' else []


# -- the CPU demo ----------------------------------------------------------------------------------------

@dataclasses.dataclass
class DemoOptions:
    """What a demo run does besides its preset's sizes."""

    work: Path
    data_root: Path
    device: str = 'cpu'  # where the GPU-scale configs compute: 'cuda', or 'cpu' (fp32, for tests)
    workers: int = 1  # data loader workers per stage of the GPU-scale configs (the CPU configs set their own)
    precision: str = 'fp32'  # training of the CPU-scale configs: 'fp32' or 'bf16' (precision_options)
    inits: Sequence[str] = INITS
    fractions: Sequence[float] = FRACTIONS
    pretrained_dir: Path | None = None
    pretrain_options: Sequence[str] = ()
    peclr_options: Sequence[str] = ()
    finetune_options: Sequence[str] = ()


@dataclasses.dataclass
class FinetuneRun:
    init: str
    fraction: float
    seed: int
    config: Path
    options: list[str]  # the config's extra --cfg-options (finetune_config)
    dir: Path

    @property
    def name(self) -> str:
        return run_name(self.init, self.fraction, self.seed)


def pretrained_backbone(pretrained_dir: Path, algo: str, seed: int, first_seed: int) -> Path:
    """An exported backbone of another run: ``pretrain/<algo>_s<seed>/backbone.pth``, or in a work dir whose
    pretraining folders do not end in ``_s<seed>``, ``pretrain/<algo>`` (the first seed) or
    ``pretrain/<algo>_seed<S>``."""
    root = Path(pretrained_dir) / 'pretrain'
    candidates = [root / seeded(algo, seed) / 'backbone.pth',
                  root / (algo if seed == first_seed else f'{algo}_seed{seed}') / 'backbone.pth']
    for c in candidates:
        if c.exists():
            return c.resolve()
    raise FileNotFoundError(f'--pretrained-dir {pretrained_dir}: no exported {algo} backbone for seed {seed} '
                            f'({candidates[0]})')


def finetune_runs(opts: DemoOptions, preset: Preset) -> list[FinetuneRun]:
    """Every fine-tuning run of the demo, in table order (fraction, init, seed)."""
    runs = []
    for fraction in opts.fractions:
        for init in opts.inits:
            for seed in preset.seeds_for(fraction):
                cfg, extra = finetune_config(init, fraction, preset.scale)
                runs.append(FinetuneRun(init, fraction, seed, cfg, extra,
                                        opts.work / 'finetune' / run_name(init, fraction, seed)))
    return runs


def demo_plan(opts: DemoOptions, preset: Preset) -> list[Stage]:
    """The demo's stage graph, topologically ordered with the long pretraining runs first. Per seed:
    pretrain each algorithm of :data:`ALGOS` in ``opts.inits`` (PeCLR, SimCLR, appearance-only SimCLR) →
    export; fine-tune → test every init at 100 % labels and, for the preset's low-label seeds, at the other
    fractions; one geometry probe (``probe/geometry_s<seed>``: the pretraining checkpoints, random weights and,
    as the positive control, scratch fine-tuned on 100 % of the labels). The preset's ``scale`` picks the
    configs (:mod:`.config_table`); the GPU-scale ones get :func:`device_options`, the CPU-scale training
    stages :func:`precision_options`. Each stage depends on the stages whose output it reads and lists the
    data set (and a ``--pretrained-dir`` backbone) as inputs."""
    work, data = opts.work, str(opts.data_root) + '/'
    reads_data = (opts.data_root,)
    gpu_scale = preset.scale == 'demo-gpu'

    # each config is read once per plan, not once per stage that runs it
    @functools.cache
    def fit(config: Path, split: str) -> list[str]:
        if gpu_scale:
            return device_options(config, split, opts.device, opts.workers)
        return precision_options(opts.precision) if split == 'train' else []

    @functools.cache
    def schedule(config: Path, iters: int) -> list[str]:
        return schedule_options(config, iters, preset.log_interval)

    algos = [a for a in ALGOS if a in opts.inits]
    pretrains, exports, probes, finetunes, tests = [], [], [], [], []
    backbones: dict[tuple[str, int], Path] = {}
    export_stage: dict[tuple[str, int], tuple[str, ...]] = {}
    given: dict[tuple[str, int], tuple[Path, ...]] = {}  # a --pretrained-dir backbone: an input, not a stage
    # what the geometry probe reads: the pretraining checkpoint (its neck gives the projection z) or the given
    # backbone, and the stage that writes it
    probe_weights: dict[tuple[str, int], Path] = {}
    probe_stage: dict[tuple[str, int], tuple[str, ...]] = {}
    for seed in preset.seeds:
        for algo in algos:
            if opts.pretrained_dir:
                backbones[algo, seed] = pretrained_backbone(opts.pretrained_dir, algo, seed, preset.seeds[0])
                export_stage[algo, seed] = probe_stage[algo, seed] = ()
                given[algo, seed] = (backbones[algo, seed],)
                probe_weights[algo, seed] = backbones[algo, seed]
                continue
            cfg, extra = pretrain_config(algo, preset.scale)
            out = work / 'pretrain' / seeded(algo, seed)
            n = preset.pretrain_iters
            o = [f'train_dataloader.dataset.data_root={data}', f'randomness.seed={seed}', *extra,
                 *schedule(cfg, n), *fit(cfg, 'train'), *opts.pretrain_options]
            if algo == 'peclr':
                o += list(opts.peclr_options)
            ckpt = out / f'iter_{n}.pth'
            pretrains.append(Stage(f'pretrain/{seeded(algo, seed)}',
                                   [PY, tool('pretrain_train'), cfg, '--work-dir', out, '--cfg-options', *o],
                                   out, ckpt, inputs=reads_data))
            backbones[algo, seed] = out / 'backbone.pth'
            probe_weights[algo, seed], probe_stage[algo, seed] = ckpt, (pretrains[-1].name,)
            name = f'export/{seeded(algo, seed)}'
            exports.append(Stage(name, [PY, tool('export'), ckpt, out / 'backbone.pth'], out / 'export',
                                 out / 'backbone.pth', deps=(pretrains[-1].name,)))
            export_stage[algo, seed] = (name,)
    data_opts = [f'train_dataloader.dataset.data_root={data}', f'test_dataloader.dataset.data_root={data}']
    controls: dict[int, Stage] = {}  # per seed, the geometry probe's positive control: scratch on every label
    for run in finetune_runs(opts, preset):
        n = preset.finetune_iters
        o = [*data_opts, f'randomness.seed={run.seed}', f'train_dataloader.dataset.seed={run.seed}',
             *run.options, *schedule(run.config, n), *fit(run.config, 'train'),
             *opts.finetune_options]
        deps, inputs = (), reads_data
        if run.init != 'scratch':
            o.append(f'model.backbone.init_cfg.checkpoint={backbones[run.init, run.seed]}')
            deps, inputs = export_stage[run.init, run.seed], reads_data + given.get((run.init, run.seed), ())
        ckpt = run.dir / f'iter_{n}.pth'
        finetunes.append(Stage(f'finetune/{run.name}', [PY, tool('pose_train'), run.config, '--work-dir', run.dir,
                                                        '--cfg-options', *o], run.dir, ckpt, deps=deps,
                               inputs=inputs))
        if run.init == 'scratch' and run.fraction == 1.0:
            controls[run.seed] = finetunes[-1]
        pred = run.dir / 'pred.json'
        tests.append(Stage(f'test/{run.name}', [PY, tool('pose_test'), run.config, ckpt, '--work-dir',
                                                run.dir / 'test', '--cfg-options', *data_opts,
                                                *fit(run.config, 'test'), *opts.finetune_options,
                                                f'test_evaluator.pred_json={pred}'],
                           run.dir / 'test', pred, deps=(finetunes[-1].name,), inputs=reads_data))
    for seed in preset.seeds:  # the geometry probe: the seed's arms beside random weights and a fine-tuned control
        out = work / 'probe' / seeded('geometry', seed)
        cmd = [PY, tool('probe'), finetune_config('scratch', 1.0, preset.scale)[0], '--geometry', '--data-root', data,
               '--seed', seed, '--out', out / 'geometry.json']
        cmd += ['--num-train', preset.probe_train] if preset.probe_train else []
        images = preset.probe_train or 4 * preset.num_train  # 4 versions of each training sample
        cmd += ['--budgets', *(b for b in PROBE_BUDGETS if b < images), 'all']
        cmd += ['--device', opts.device] if gpu_scale else []
        deps: tuple[str, ...] = ()
        inputs = reads_data
        if algos:
            cmd += ['--checkpoint', *(f'{algo}={probe_weights[algo, seed]}' for algo in algos)]
            deps = tuple(d for algo in algos for d in probe_stage[algo, seed])
            inputs += tuple(p for algo in algos for p in given.get((algo, seed), ()))
        if seed in controls:
            cmd += ['--control', controls[seed].done]
            deps += (controls[seed].name,)
        probes.append(Stage(f'probe/{seeded("geometry", seed)}', cmd, out, out / 'geometry.json', deps=deps,
                            inputs=inputs))
    # launch priority (list order, topological): pretraining (the critical path), then what each finished
    # stage unlocks: a fine-tuning's test, and after a seed's control its probe, come before the next
    # fine-tuning, so that the last stages to run are short ones
    after = {f.name: [t] for f, t in zip(finetunes, tests)}
    for seed, probe in zip(preset.seeds, probes):
        if seed in controls:
            after[controls[seed].name].append(probe)
    unlocked = [s for f in finetunes for s in (f, *after[f.name])]
    return pretrains + exports + [p for p in probes if p not in unlocked] + unlocked


# -- the paper-scale protocol (tools/reproduce.py) ---------------------------------------------------------

RELEASE_BATCH = 128  # images in one NT-Xent, on the release's one GPU (2,048 per step through accumulation)

def launcher(gpus: int, script: Path) -> list[str]:
    if gpus <= 1:
        return [PY, str(script)]
    return [PY, '-m', 'torch.distributed.run', f'--nproc_per_node={gpus}', str(script)]


def paper_plan(work_dir: str | Path, data_root: str | Path, yt3dh_root: str | Path | None = None,
               arch: str = 'rn50', gpus: int = 8, fractions: Sequence[float] = FRACTIONS, seed: int = 0
               ) -> list[Stage]:
    """The paper-scale runs as stages (sequential dependencies as in the demo). Without ``yt3dh_root`` the
    pretraining uses FreiHAND's training images only (the ``..._freihand-128px`` config). On ``gpus`` GPUs
    the release's batch is split: ``128 / gpus`` images per GPU, gathered into one NT-Xent over 128 images,
    16 accumulated batches per step as in the config."""
    work = Path(work_dir).resolve()
    fh = str(Path(data_root).resolve()) + '/'
    plan: list[Stage] = []
    dist = ['--launcher', 'pytorch'] if gpus > 1 else []
    if RELEASE_BATCH % gpus:
        raise ValueError(f'--gpus {gpus}: the release\'s {RELEASE_BATCH}-image batch does not split evenly over '
                         f'{gpus} GPUs')
    backbones, exports = {}, {}
    data = [f'{split}_dataloader.dataset.data_root={fh}' for split in ('train', 'val', 'test')]
    scale = ['--auto-scale-lr'] if gpus != 8 else []
    for algo in ('peclr', 'simclr'):
        cfg, extra = pretrain_config(algo, arch, yt3dh=bool(yt3dh_root))
        out = work / 'pretrain' / algo
        opts = [f'train_dataloader.batch_size={RELEASE_BATCH // gpus}', f'randomness.seed={seed}', *extra,
                f'train_dataloader.dataset.datasets.0.data_root={fh}']
        if yt3dh_root:
            opts.append(f'train_dataloader.dataset.datasets.1.data_root={Path(yt3dh_root).resolve()}/')
        if gpus == 1:  # SyncBN needs a process group
            opts += ['model.backbone.norm_cfg.type=BN', 'model.neck.norm_cfg.type=BN1d']
        ckpt = out / 'epoch_100.pth'
        plan.append(Stage(f'pretrain/{algo}', [*launcher(gpus, tool('pretrain_train')), str(cfg), '--work-dir',
                                               str(out), *dist, '--cfg-options', *opts], out, ckpt))
        backbones[algo] = out / 'backbone.pth'
        exports[algo] = f'export/{algo}'
        plan.append(Stage(exports[algo], [PY, str(tool('export')), str(ckpt), str(backbones[algo])],
                          out / 'export', backbones[algo], deps=(f'pretrain/{algo}',)))
    for fraction in fractions:
        for init in PAPER_INITS:
            name = run_name(init, fraction)
            cfg, extra = finetune_config(init, fraction, arch)
            out = work / 'finetune' / name
            opts = [*data, *extra, f'randomness.seed={seed}']
            if fraction != 1.0:
                opts.append(f'train_dataloader.dataset.seed={seed}')
            deps: tuple[str, ...] = ()
            if init != 'scratch':
                opts.append(f'model.backbone.init_cfg.checkpoint={backbones[init]}')
                deps = (exports[init],)
            ckpt = out / 'epoch_100.pth'
            plan.append(Stage(f'finetune/{name}', [*launcher(gpus, tool('pose_train')), str(cfg), '--work-dir',
                                                   str(out), *dist, *scale, '--cfg-options', *opts],
                              out, ckpt, deps=deps))
            pred = out / 'pred.json'
            plan.append(Stage(f'test/{name}', [PY, str(tool('pose_test')), str(cfg), str(ckpt), '--work-dir',
                                               str(out / 'test'), '--cfg-options', f'test_dataloader.dataset.data_root={fh}',
                                               f'test_evaluator.pred_json={pred}'],
                              out / 'test', pred, deps=(f'finetune/{name}',)))
    return plan
