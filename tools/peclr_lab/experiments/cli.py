"""Argument parsers of ``tools/demo.py``, ``tools/demo_report.py`` and ``tools/reproduce.py``."""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
from pathlib import Path

from .config_table import FRACTIONS, INITS
from .plan import DemoOptions
from .presets import PRESETS, resolve

DEMO_EPILOG = """\
presets (--preset; sizes in tools/peclr_lab/experiments/presets.py):
""" + '\n'.join(f'  {name:6s} num_train {p.num_train}, num_eval {p.num_eval}, pretrain {p.pretrain_iters} it, '
                f'finetune {p.finetune_iters} it, seeds {" ".join(map(str, p.seeds))} '
                f'(< 100 % labels: {"all" if p.low_label_seeds is None else "first " + str(p.low_label_seeds)}), '
                f'jobs {p.jobs}' + (', GPU configs' if p.scale == 'demo-gpu' else '')
                for name, p in PRESETS.items()) + """

Per seed: pretrain PeCLR, SimCLR and SimCLR without geometric augmentation (simclr-app), export,
fine-tune + test every init at 100 % labels and at the label fractions below (that seed's backbone,
fine-tuning randomness and label subset; --low-label-seeds K runs the fractions below 100 % for the first
K seeds only), then one geometry probe (tools/linear_probe.py --geometry) of the seed's pretrained
backbones, random weights and scratch fine-tuned on every label (the control). results.md reports
mean +- sd over seeds and paired differences. --preset gpu runs the GPU configs on the first CUDA device
(on a CPU: fp32, slowly, as the tests do). --pretrain-seeds S... is --seeds S... (the spelling of the
measured commands in docs/pretraining.md).
"""


def demo_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='tools/demo.py', formatter_class=argparse.RawDescriptionHelpFormatter,
                                description='PeCLR vs SimCLR (with and without geometric augmentation) vs scratch on '
                                'synthetic FreiHAND (CPU presets; --preset gpu on one CUDA device).',
                                epilog=DEMO_EPILOG)
    p.add_argument('--preset', choices=sorted(PRESETS), default='full', help='sizes, seeds and jobs (default full)')
    p.add_argument('--quick', action='store_true', help='same as --preset quick (tiny sizes, ~3 min)')
    p.add_argument('--work-dir', help='outputs (default work_dirs/demo, or work_dirs/demo_<preset>)')
    p.add_argument('--data-root', help='use this FreiHAND-format folder instead of rendering one')
    p.add_argument('--seeds', nargs='+', type=int, metavar='S', help='seeds (default: the preset\'s)')
    p.add_argument('--seed', type=int, help='one seed: same as --seeds S (the data keep --data-seed)')
    p.add_argument('--pretrain-seeds', nargs='+', type=int, metavar='S', help='same as --seeds')
    p.add_argument('--data-seed', type=int, default=0, help='seed of the rendered synthetic set (default 0)')
    p.add_argument('--low-label-seeds', metavar='K|all',
                   help='how many of the seeds (the first) also run label fractions < 100 %% (default: preset\'s)')
    p.add_argument('--jobs', type=int, help='stages run at once (default: the preset\'s, 2)')
    p.add_argument('--force', action='store_true', help='rerun stages that are already done')
    p.add_argument('--precision', choices=('auto', 'fp32', 'bf16'), default='auto',
                   help='training precision of the CPU presets: bf16 autocast (AutocastOptimWrapper) or fp32; '
                   'auto: bf16 where the CPU has AMX (default). The gpu preset\'s configs run bf16 AMP on CUDA')
    for field in ('num_train', 'num_eval', 'pretrain_iters', 'finetune_iters', 'probe_train'):
        p.add_argument('--' + field.replace('_', '-'), type=int, help=f'override the preset\'s {field}')
    p.add_argument('--inits', nargs='+', choices=INITS, default=list(INITS),
                   help='initialisations (default: all; pretrains only what they need)')
    p.add_argument('--fractions', nargs='+', type=float, default=list(FRACTIONS), help='label fractions')
    p.add_argument('--pretrained-dir', help='reuse the exported backbones of an earlier run '
                   '(DIR/pretrain/<algo>_s<seed>/backbone.pth, or DIR/pretrain/<algo> for the first seed) '
                   'instead of pretraining')
    p.add_argument('--pretrain-options', nargs='+', default=[], metavar='KEY=VAL',
                   help='extra --cfg-options for both pretraining runs (keeps their budgets equal)')
    p.add_argument('--peclr-options', nargs='+', default=[], metavar='KEY=VAL',
                   help='extra --cfg-options for the PeCLR pretraining only (e.g. model.mode=official)')
    p.add_argument('--finetune-options', nargs='+', default=[], metavar='KEY=VAL',
                   help='extra --cfg-options for every fine-tuning run (keeps their budgets equal)')
    return p


def _raise_interrupted(signum: int, frame) -> None:
    from .stages import Interrupted

    raise Interrupted(signum)


def demo_main(argv: list[str] | None = None) -> int:
    from .demo import run_demo
    from .stages import Interrupted, StageFailed

    parser = demo_parser()
    args = parser.parse_args(argv)
    name = 'quick' if args.quick else args.preset
    if args.quick and args.preset not in ('full', 'quick'):
        parser.error('--quick is --preset quick; do not give both')
    chosen = [x for x in (args.seeds, [args.seed] if args.seed is not None else None, args.pretrain_seeds) if x]
    if len(chosen) > 1:
        parser.error('give one of --seeds, --seed, --pretrain-seeds')
    seeds = tuple(dict.fromkeys(chosen[0])) if chosen else None
    low = args.low_label_seeds
    if low is not None:
        try:
            low = None if low == 'all' else int(low)
        except ValueError:
            parser.error(f'--low-label-seeds: a number or "all", got {low!r}')
    if any(not 0 < f <= 1 for f in args.fractions):
        parser.error(f'--fractions must be in (0, 1], got {args.fractions}')
    if args.jobs is not None and args.jobs < 1:
        parser.error('--jobs must be >= 1')
    preset = resolve(name, seeds=seeds, jobs=args.jobs, num_train=args.num_train, num_eval=args.num_eval,
                     pretrain_iters=args.pretrain_iters, finetune_iters=args.finetune_iters,
                     probe_train=args.probe_train)
    if args.low_label_seeds is not None:
        preset = dataclasses.replace(preset, low_label_seeds=low)
    default_dir = {'full': 'work_dirs/demo', 'quick': 'work_dirs/demo_quick'}.get(name, f'work_dirs/demo_{name}')
    work = Path(args.work_dir or default_dir)
    work = (work if work.is_absolute() else Path.cwd() / work).resolve()
    data = Path(args.data_root).resolve() if args.data_root else work / 'data'
    precision = args.precision
    if precision == 'auto':
        from peclr_mm.training_speed import cpu_has_fast_bf16
        precision = 'bf16' if preset.scale == 'demo' and cpu_has_fast_bf16() else 'fp32'
    opts = DemoOptions(work=work, data_root=data, precision=precision, inits=[i for i in INITS if i in args.inits],
                       fractions=args.fractions,
                       pretrained_dir=Path(args.pretrained_dir).resolve() if args.pretrained_dir else None,
                       pretrain_options=args.pretrain_options, peclr_options=args.peclr_options,
                       finetune_options=args.finetune_options)
    command = 'python tools/demo.py ' + shlex.join(argv if argv is not None else sys.argv[1:])
    # SIGTERM stops the demo as Ctrl-C does (run_stages forwards both to the running stages)
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        out = run_demo(name, preset, opts, data_seed=args.data_seed, render=not args.data_root, force=args.force,
                       command=command.strip())
    except KeyboardInterrupt as e:
        stop = e if isinstance(e, Interrupted) else Interrupted(signal.SIGINT)
        print(f'tools/demo.py: {stop}', file=sys.stderr)
        return stop.exit_status
    except (OSError, ValueError, StageFailed) as e:  # bad or foreign data, missing files, a failed stage
        raise SystemExit(str(e)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f'[report] {out["md"]}\n[report] {out["png"]}\n[report] {len(out["pictures"])} prediction pictures in '
          f'{work / "predictions"}')
    print(Path(out['md']).read_text())
    return 0


def report_main(argv: list[str] | None = None) -> int:
    from .demo import rerender

    parser = argparse.ArgumentParser(prog='tools/demo_report.py',
                                     description='Rebuild the report of a finished tools/demo.py run.')
    parser.add_argument('work_dir')
    args = parser.parse_args(argv)
    try:
        print(rerender(Path(args.work_dir))['md'])
    except (OSError, ValueError) as e:  # a missing or malformed run file, data changed since the run
        raise SystemExit(f'tools/demo_report.py: error: {e}') from None
    return 0


def reproduce_main(argv: list[str] | None = None) -> int:
    import os.path as osp

    from peclr_mm.freihand import SPLITS, annotation_file

    from ..runner import ROOT, child_env
    from .config_table import ARCH_DEPTH
    from .plan import paper_plan
    from .stages import Interrupted, StageFailed, run_stages

    parser = argparse.ArgumentParser(prog='tools/reproduce.py',
                                     description='PeCLR vs SimCLR vs scratch on real FreiHAND at the paper scale.')
    parser.add_argument('--data-root', required=True, help='FreiHAND release folder (training_*.json, evaluation_*.json)')
    parser.add_argument('--yt3dh-root', help='YouTube3DHands folder (youtube_train.json + frames); omit for FreiHAND only')
    parser.add_argument('--preset', choices=['paper'], default='paper', help='the paper\'s configs (ResNet, 100 epochs)')
    parser.add_argument('--arch', choices=sorted(ARCH_DEPTH), default='rn50', help='backbone (paper: rn50, rn152)')
    parser.add_argument('--gpus', type=int, default=8, help='GPUs per run (the release pretrains on 1; the fine-tuning configs assume 8)')
    parser.add_argument('--jobs', type=int, default=1, help='runs at once (each uses --gpus GPUs; default 1)')
    parser.add_argument('--fractions', type=float, nargs='+', default=list(FRACTIONS), help='label fractions')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/reproduce')
    parser.add_argument('--dry-run', action='store_true', help='print the configs and commands, run nothing')
    parser.add_argument('--force', action='store_true', help='rerun finished stages')
    args = parser.parse_args(argv)
    if args.gpus < 1 or args.jobs < 1:
        parser.error('--gpus and --jobs must be >= 1')
    for f in args.fractions:
        if not 0 < f <= 1:
            parser.error(f'--fractions: {f} is not in (0, 1]')
    if not args.dry_run:
        for path in (annotation_file(args.data_root, split, 'xyz') for split in SPLITS):
            if not osp.exists(path):
                raise SystemExit(f'{path}: missing; --data-root must be the FreiHAND release')
    try:
        plan = paper_plan(args.work_dir, args.data_root, args.yt3dh_root, args.arch, args.gpus,
                                 args.fractions, args.seed)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    print(f'# {len(plan)} runs, preset {args.preset}, {args.arch}, {args.gpus} GPU(s), seed {args.seed}, '
          f'work dir {Path(args.work_dir).resolve()}')
    if args.dry_run:
        for stage in plan:
            print(f'# {stage.name} -> {stage.done}')
            print(f'(cd {shlex.quote(str(ROOT))} && PYTHONPATH=. {shlex.join(str(c) for c in stage.cmd)})')
        return 0
    try:
        run_stages(plan, jobs=args.jobs, force=args.force, env=child_env(single_thread=False))
    except StageFailed as e:
        raise SystemExit(str(e)) from None
    except Interrupted as e:
        print(f'tools/reproduce.py: {e}', file=sys.stderr)
        return e.exit_status
    print('# done; metrics in', Path(args.work_dir).resolve() / 'finetune' / '*' / 'test')
    return 0
