"""``make demo``: the paper's comparison end to end on synthetic FreiHAND, on a CPU.

    python tools/demo.py                 # full demo (~23 min on a 2-core CPU)
    python tools/demo.py --quick         # the same path with tiny sizes (~3 min)
    python tools/demo.py --work-dir DIR --force

Stages, each a real mmengine Runner started through the upstream tools (``mmpretrain``/``mmpose``
``tools/train.py`` and ``tools/test.py``) on the project's registered configs in ``configs/demo/``:

1. render the synthetic FreiHAND-format set (``peclr_mm.synthetic``);
2. pretrain the same half-width ResNet-18 with PeCLR and with mmpretrain's SimCLR on the unlabeled
   training images (same data, views, projection, optimiser, iterations, batch and seed; the configs'
   ``EquivarianceMonitorHook`` logs the equivariance of the projection), export the backbones
   (``tools/export_backbone.py``) and linear-probe them and the random init (``tools/linear_probe.py``);
3. fine-tune scratch / SimCLR / PeCLR initialisations with 10 % and 100 % of the labels (same iterations);
4. test each on the evaluation split with ``FreiHandMetric`` (writes ``pred.json``);
5. write ``results.md``, ``results.json``, ``results.png`` and prediction pictures (``tools/demo_report.py``).

A stage whose recorded command equals the current one is skipped (resume after an interruption);
``--force`` reruns everything. Every stage's output goes to its own folder with ``stage.log``.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from peclr_mm.fileio import atomic_write_json  # noqa: E402

PY = sys.executable
SITE = Path(osp.dirname(osp.dirname(__import__('mmengine').__file__)))
TOOLS = dict(pretrain_train=SITE / 'mmpretrain' / '.mim' / 'tools' / 'train.py',
             pose_train=SITE / 'mmpose' / '.mim' / 'tools' / 'train.py',
             pose_test=SITE / 'mmpose' / '.mim' / 'tools' / 'test.py',
             export=ROOT / 'tools' / 'export_backbone.py',
             probe=ROOT / 'tools' / 'linear_probe.py')

CFG = ROOT / 'configs' / 'demo'
PRETRAIN_CONFIGS = {
    'simclr': CFG / 'simclr_resnet18-w32_1xb64-500it_synth-freihand-64px.py',
    'peclr': CFG / 'peclr_resnet18-w32_1xb64-500it_synth-freihand-64px.py',
}
INITS = ('scratch', 'simclr', 'peclr')
FRACTIONS = (0.1, 1.0)


def finetune_config(init: str, fraction: float) -> Path:
    tag = '' if init == 'scratch' else f'-{init}'
    pct = '' if fraction == 1.0 else f'-{round(fraction * 100)}pct'
    return CFG / f'td-reg25d_res18-w32{tag}_1xb32-600it_synth-freihand3d{pct}-64x64.py'


def run_name(init: str, fraction: float) -> str:
    return f'{init}_{round(fraction * 100)}pct'


@dataclasses.dataclass(frozen=True)
class Preset:
    """Sizes of one demo run. Full: measured ~0.28 s per pretraining iteration (batch 64, two 64 px views)
    and ~0.12 s per fine-tuning iteration (batch 32) on one core of the 2-core machine."""

    num_train: int  # synthetic training samples (4 images each)
    num_eval: int  # synthetic evaluation samples
    pretrain_iters: int
    finetune_iters: int
    log_interval: int
    num_pictures: int = 3  # prediction pictures (evaluation samples) per model
    probe_train: int | None = None  # training images of the linear probe (None: all)


PRESETS = {
    'full': Preset(num_train=2000, num_eval=500, pretrain_iters=500, finetune_iters=600, log_interval=50,
                   probe_train=4000),
    'quick': Preset(num_train=160, num_eval=48, pretrain_iters=16, finetune_iters=24, log_interval=8,
                    num_pictures=2),
}


_ITER_RE = re.compile(r'Iter\((train|test)\)\s*\[\s*(\d+)/(\d+)\]')


def iteration_options(iters: int, warmup: int, log_interval: int) -> list[str]:
    """--cfg-options that set the length of an iteration-based schedule of the demo configs."""
    return [f'train_cfg.max_iters={iters}', f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}',
            f'param_scheduler.1.end={iters}', f'param_scheduler.1.T_max={iters - warmup}',
            f'default_hooks.checkpoint.interval={iters}', f'default_hooks.logger.interval={log_interval}']


def config_fingerprint(cmd: list[str]) -> str | None:
    """SHA-1 of the resolved config (bases and --cfg-options merged) of a train/test command, so that an
    edited config (or one of its bases) reruns its stage; None for commands without a config."""
    from mmengine.config import Config, DictAction

    cfgs = [c for c in cmd if c.endswith('.py') and osp.join('configs', '') in c]
    if not cfgs:
        return None
    cfg = Config.fromfile(cfgs[0], import_custom_modules=False)
    if '--cfg-options' in cmd:
        parser = argparse.ArgumentParser()
        parser.add_argument('--cfg-options', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(cmd[cmd.index('--cfg-options'):]).cfg_options)
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


class Stages:
    """Runs commands as stages: streamed to ``stage.log``, progress echoed, skipped when already done."""

    def __init__(self, force: bool) -> None:
        self.force = force
        self.walls: dict[str, float] = {}
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
                        # One compute thread: the data loader worker gets the other core, and OpenMP does not
                        # spin against neighbours (2 threads on the shared 2-core box: 1.4-1.8 s per
                        # pretraining iteration instead of 0.28 s).
                        OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')

    def run(self, name: str, cmd: list[str], out_dir: Path, done: Path) -> float:
        """Run ``cmd`` (cwd: repository root) unless ``out_dir/stage.json`` records the same command and
        resolved config and ``done`` exists. Returns the stage's wall time (recorded one when skipped)."""
        cmd = [str(c) for c in cmd]
        stamp = out_dir / 'stage.json'
        fingerprint = config_fingerprint(cmd)
        if not self.force and stamp.exists() and done.exists():
            rec = json.loads(stamp.read_text())
            if rec.get('cmd') == cmd and rec.get('config_sha1') == fingerprint:
                print(f'[{name}] done before ({rec["wall_s"]:.0f} s), skipped; --force reruns it', flush=True)
                self.walls[name] = rec['wall_s']
                return rec['wall_s']
        out_dir.mkdir(parents=True, exist_ok=True)
        if stamp.exists():
            stamp.unlink()
        print(f'[{name}] {" ".join(osp.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in cmd)}',
              flush=True)
        log_path = out_dir / 'stage.log'
        t0 = time.time()
        with open(log_path, 'w') as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, bufsize=1)
            for line in proc.stdout:
                log.write(line)
                self._progress(name, line, t0)
            rc = proc.wait()
        wall = time.time() - t0
        if rc != 0 or not done.exists():
            tail = ''.join(open(log_path).readlines()[-25:])
            raise SystemExit(f'{tail}\n[{name}] failed (exit status {rc}, expected {done}); full log: {log_path}')
        text = log_path.read_text()
        if 'missing keys in source state_dict' in text or 'unexpected key in source state_dict' in text:
            raise SystemExit(f'[{name}] the pretrained backbone did not load cleanly (missing/unexpected keys); '
                             f'see {log_path}')
        atomic_write_json(stamp, dict(cmd=cmd, config_sha1=fingerprint, wall_s=wall))
        self.walls[name] = wall
        print(f'[{name}] finished in {wall:.0f} s', flush=True)
        return wall

    @staticmethod
    def _progress(name: str, line: str, t0: float) -> None:
        m = _ITER_RE.search(line)
        if m:
            loss = re.search(r'\bloss: ([-\d.e+]+)', line)
            epe = re.search(r'freihand/PA-EPE: ([\d.]+)', line)
            extra = f' loss {float(loss.group(1)):.4f}' if loss else ''
            extra += f' PA-EPE {float(epe.group(1)):.2f} mm' if epe else ''
            print(f'  [{name}] {m.group(1)} {m.group(2)}/{m.group(3)}{extra} ({time.time() - t0:.0f} s)',
                  flush=True)
        elif 'Traceback' in line or 'Error' in line:
            print(f'  [{name}] {line.rstrip()}', flush=True)


def make_data(data_root: Path, preset: Preset, seed: int, force: bool) -> float:
    """Render the synthetic set unless ``data_root`` already holds it with the same settings."""
    from peclr_mm.synthetic import make_synthetic_freihand

    want = dict(num_train=preset.num_train, num_eval=preset.num_eval, size=224, seed=seed)
    stamp = data_root.parent / f'{data_root.name}.json'
    if not force and stamp.exists() and (data_root / 'evaluation_xyz.json').exists():
        rec = json.loads(stamp.read_text())
        if rec.get('settings') == want:
            print(f'[data] {data_root} exists ({preset.num_train} train / {preset.num_eval} eval), skipped',
                  flush=True)
            return rec['wall_s']
    from peclr_mm.synthetic.writer import MARKER
    if stamp.exists() and data_root.is_dir() and not (data_root / MARKER).exists():
        (data_root / MARKER).write_text('{}')  # rendered by an earlier demo (its stamp says so): replaceable
    n_img = 4 * preset.num_train + preset.num_eval
    print(f'[data] rendering {n_img} images into {data_root}', flush=True)
    t0 = time.time()
    make_synthetic_freihand(str(data_root), preset.num_train, preset.num_eval, size=224, seed=seed,
                            workers=min(2, os.cpu_count() or 1), overwrite=True, progress=True)
    wall = time.time() - t0
    atomic_write_json(stamp, dict(settings=want, wall_s=wall))
    print(f'[data] finished in {wall:.0f} s', flush=True)
    return wall


def latest_metrics(test_dir: Path) -> dict:
    """The metrics mmengine's LoggerHook wrote for the newest test run: ``<work_dir>/<stamp>/<stamp>.json``."""
    files = sorted(glob.glob(str(test_dir / '*' / '*.json')))
    if not files:
        raise SystemExit(f'{test_dir}: no test metrics json found')
    last = open(files[-1]).read().strip().splitlines()[-1]
    metrics = {k.split('/', 1)[1]: v for k, v in json.loads(last).items() if k.startswith('freihand/')}
    if not metrics:
        raise SystemExit(f'{files[-1]}: no freihand/* metrics in the last line')
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description='PeCLR vs SimCLR vs scratch on synthetic FreiHAND (CPU demo).')
    parser.add_argument('--quick', action='store_true', help='tiny sizes (~3 min): exercises the same path')
    parser.add_argument('--work-dir', help='outputs (default work_dirs/demo, or work_dirs/demo_quick with --quick)')
    parser.add_argument('--data-root', help='use this FreiHAND-format folder instead of rendering one')
    parser.add_argument('--seed', type=int, default=0, help='seed of the data, the label subsets and training')
    parser.add_argument('--force', action='store_true', help='rerun stages that are already done')
    for field in ('num_train', 'num_eval', 'pretrain_iters', 'finetune_iters'):
        parser.add_argument('--' + field.replace('_', '-'), type=int, help=f'override the preset\'s {field}')
    parser.add_argument('--inits', nargs='+', choices=INITS, default=list(INITS),
                        help='initialisations to fine-tune (default: all; pretrains only what they need)')
    parser.add_argument('--fractions', nargs='+', type=float, default=list(FRACTIONS), help='label fractions')
    parser.add_argument('--pretrained-dir', help='reuse the exported backbones of an earlier run '
                        '(DIR/pretrain/{peclr,simclr}/backbone.pth) instead of pretraining')
    parser.add_argument('--pretrain-options', nargs='+', default=[], metavar='KEY=VAL',
                        help='extra --cfg-options for both pretraining runs (keeps their budgets equal)')
    parser.add_argument('--peclr-options', nargs='+', default=[], metavar='KEY=VAL',
                        help='extra --cfg-options for the PeCLR pretraining only (e.g. model.mode=official)')
    parser.add_argument('--pretrain-seeds', nargs='+', type=int, default=[], metavar='S',
                        help='extra pretraining seeds for the linear probe and the equivariance monitor (mean +- sd '
                        'and PeCLR - SimCLR per seed in results.md); fine-tuning uses the --seed backbones')
    parser.add_argument('--finetune-options', nargs='+', default=[], metavar='KEY=VAL',
                        help='extra --cfg-options for every fine-tuning run (keeps their budgets equal)')
    args = parser.parse_args(argv)
    args.inits = [i for i in INITS if i in args.inits]  # table order
    if any(not 0 < f <= 1 for f in args.fractions):
        parser.error(f'--fractions must be in (0, 1], got {args.fractions}')

    preset = PRESETS['quick' if args.quick else 'full']
    preset = dataclasses.replace(preset, **{f: getattr(args, f) for f in
                                            ('num_train', 'num_eval', 'pretrain_iters', 'finetune_iters')
                                            if getattr(args, f) is not None})
    work = Path(args.work_dir or ('work_dirs/demo_quick' if args.quick else 'work_dirs/demo'))
    work = (work if work.is_absolute() else Path.cwd() / work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    stages = Stages(args.force)

    if args.data_root:
        data = Path(args.data_root).resolve()
        data_wall = 0.0
    else:
        data = work / 'data'
        data_wall = make_data(data, preset, args.seed, args.force)
    stages.walls['data'] = data_wall
    data_opt = str(data) + '/'

    # 2. pretraining with an equal budget (one run per algorithm and pretraining seed), then backbone export;
    # fine-tuning uses the backbones of --seed, the extra seeds feed the probe's mean +- sd and paired table
    seeds = [args.seed] + [s for s in args.pretrain_seeds if s != args.seed]

    def tag(name: str, seed: int) -> str:
        return name if seed == args.seed else f'{name}_seed{seed}'

    backbones = {}
    for seed in seeds:
        for algo, cfg in PRETRAIN_CONFIGS.items():
            if algo not in args.inits:
                continue
            if args.pretrained_dir:
                if seed != args.seed:
                    raise SystemExit('--pretrain-seeds cannot be combined with --pretrained-dir')
                backbones[algo] = Path(args.pretrained_dir).resolve() / 'pretrain' / algo / 'backbone.pth'
                if not backbones[algo].exists():
                    raise SystemExit(f'{backbones[algo]}: --pretrained-dir has no exported {algo} backbone')
                continue
            out = work / 'pretrain' / tag(algo, seed)
            n = preset.pretrain_iters
            opts = [f'train_dataloader.dataset.data_root={data_opt}', f'randomness.seed={seed}',
                    *iteration_options(n, max(1, n // 10), preset.log_interval), *args.pretrain_options]
            if algo == 'peclr':
                opts += args.peclr_options
            ckpt = out / f'iter_{n}.pth'
            stages.run(f'pretrain/{tag(algo, seed)}', [PY, TOOLS['pretrain_train'], cfg, '--work-dir', out,
                                                       '--cfg-options', *opts], out, ckpt)
            backbones[tag(algo, seed)] = out / 'backbone.pth'
            stages.run(f'export/{tag(algo, seed)}', [PY, TOOLS['export'], ckpt, out / 'backbone.pth'],
                       out / 'export', out / 'backbone.pth')

    # 2b. linear probe of each initialisation's frozen backbone (scratch: the config's random weights)
    for seed in seeds:
        for init in args.inits:
            out = work / 'probe' / tag(init, seed)
            cmd = [PY, TOOLS['probe'], finetune_config('scratch', 1.0), '--data-root', data_opt, '--seed', seed,
                   '--out', out / 'probe.json']
            cmd += ['--num-train', preset.probe_train] if preset.probe_train else []
            cmd += ['--checkpoint', backbones[tag(init, seed)]] if init != 'scratch' else []
            stages.run(f'probe/{tag(init, seed)}', cmd, out, out / 'probe.json')

    # 3-4. fine-tuning (same iterations for every init and fraction) and testing on the evaluation split
    for fraction in args.fractions:
        for init in args.inits:
            name = run_name(init, fraction)
            out = work / 'finetune' / name
            cfg = finetune_config(init, fraction if fraction in FRACTIONS else 1.0)
            n = preset.finetune_iters
            data_opts = [f'train_dataloader.dataset.data_root={data_opt}',
                         f'test_dataloader.dataset.data_root={data_opt}']
            opts = [*data_opts, f'randomness.seed={args.seed}', f'train_dataloader.dataset.seed={args.seed}',
                    *iteration_options(n, max(1, n // 20), preset.log_interval)]
            opts += args.finetune_options
            if fraction not in FRACTIONS:  # no named config: the 100 % one with the fraction set
                opts.append(f'train_dataloader.dataset.label_fraction={fraction}')
            if init != 'scratch':
                opts.append(f'model.backbone.init_cfg.checkpoint={backbones[init]}')
            ckpt = out / f'iter_{n}.pth'
            stages.run(f'finetune/{name}', [PY, TOOLS['pose_train'], cfg, '--work-dir', out, '--cfg-options', *opts],
                       out, ckpt)
            pred = out / 'pred.json'
            stages.run(f'test/{name}', [PY, TOOLS['pose_test'], cfg, ckpt,
                                        '--work-dir', out / 'test', '--cfg-options', *data_opts, *args.finetune_options,
                                        f'test_evaluator.pred_json={pred}'], out / 'test', pred)
            metrics = latest_metrics(out / 'test')
            atomic_write_json(out / 'metrics.json', dict(
                init=init, label_fraction=fraction, config=str(cfg.relative_to(ROOT)), metrics=metrics,
                finetune_wall_s=stages.walls[f'finetune/{name}'], test_wall_s=stages.walls[f'test/{name}']))

    # 5. report
    from demo_report import write_report  # tools/ is on sys.path as the script's folder

    settings = dict(preset=('quick' if args.quick else 'full'), seed=args.seed, pretrain_seeds=seeds,
                    data_root=str(data),
                    **dataclasses.asdict(preset), inits=args.inits, fractions=args.fractions,
                    pretrain_options=args.pretrain_options, finetune_options=args.finetune_options,
                    peclr_options=args.peclr_options, pretrained_dir=args.pretrained_dir,
                    command='python tools/demo.py ' + ' '.join(argv if argv is not None else sys.argv[1:]))
    out = write_report(work, data, settings, stages.walls, time.time() - t_start, args.inits, args.fractions,
                       num_pictures=preset.num_pictures, seed=args.seed)
    print(f'[report] {out["md"]}\n[report] {out["png"]}\n[report] {len(out["pictures"])} prediction pictures in '
          f'{work / "predictions"}')
    print(open(out['md']).read())
    return 0


if __name__ == '__main__':
    sys.exit(main())
