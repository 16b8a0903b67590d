"""The demo's protocol at the paper's scale: real FreiHAND (+ YouTube3DHands), ResNet-50/152, GPUs.

    python tools/reproduce.py --data-root data/freihand --yt3dh-root data/youtube_3d_hands \\
        --preset paper --gpus 8 --dry-run          # print the commands and configs, run nothing
    python tools/reproduce.py --data-root data/freihand --preset paper --gpus 8

The same sequence of runs as ``tools/demo.py``, on the paper's configs (``configs/peclr/``,
``configs/freihand3d/``), through the upstream ``tools/train.py``/``tools/test.py``:

1. pretrain PeCLR and SimCLR (same data, views, projection, LARS schedule, 100 epochs, effective batch 2048);
2. export both backbones (``tools/export_backbone.py``);
3. fine-tune scratch / SimCLR / PeCLR initialisations on 10 % and 100 % of the FreiHAND labels;
4. test each on the FreiHAND evaluation split with ``FreiHandMetric``, writing the Codalab ``pred.json``.

Without ``--yt3dh-root`` the pretraining uses FreiHAND's training images only (a config deriving from the
paper's is written into the work dir). With ``--gpus N`` the runs go through ``torch.distributed.run`` and
the pretraining's gradient accumulation keeps the effective batch at 2048 (``2048 / (N x 128)``); the
fine-tuning learning rate is scaled from the paper's 8 x 64 with mmpose's ``--auto-scale-lr``. A finished
stage (same command, output present) is skipped on a rerun; ``--force`` reruns.
"""
from __future__ import annotations

import argparse
import os.path as osp
import shlex
import sys
from pathlib import Path

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from demo import FRACTIONS, INITS, PY, ROOT, TOOLS, Stages, run_name  # noqa: E402

from peclr_mm.fileio import atomic_write_text  # noqa: E402
from peclr_mm.freihand import SPLITS, VERSIONS, annotation_file  # noqa: E402

PAPER_BATCH = 2048  # effective pretraining batch
PRETRAIN_PER_GPU = 128  # the paper configs' batch per GPU
ARCH_DEPTH = {'rn50': 50, 'rn152': 152}


def pretrain_config(algo: str, arch: str) -> tuple[Path, list[str]]:
    """The paper's pretraining config for ``algo`` and extra options (SimCLR at depth 152 has no config of
    its own: the RN50 one with the backbone depth changed)."""
    cfg = ROOT / 'configs' / 'peclr'
    if algo == 'peclr':
        return cfg / f'peclr_resnet{ARCH_DEPTH[arch]}_8xb128-100e_freihand-yt3dh-128px.py', []
    extra = [] if arch == 'rn50' else [f'model.backbone.depth={ARCH_DEPTH[arch]}']
    return cfg / 'simclr_resnet50_8xb128-100e_freihand-yt3dh-128px.py', extra


def finetune_config(init: str, fraction: float, arch: str) -> Path:
    tag = '' if init == 'scratch' else f'-{init}'
    pct = '' if fraction == 1.0 else f'-{round(fraction * 100)}pct'
    return ROOT / 'configs' / 'freihand3d' / f'td-reg25d_res{ARCH_DEPTH[arch]}{tag}_8xb64-100e_freihand3d{pct}-224x224.py'


FREIHAND_ONLY = """# Written by tools/reproduce.py: {base_name} without YouTube3DHands (FreiHAND training images only).
_base_ = [{base!r}]
custom_imports = dict(imports=['peclr_mm.selfsup'], allow_failed_imports=False)

train_dataloader = dict(dataset=dict(
    _delete_=True, type='FreiHandImages', data_root={data_root!r}, versions={versions!r},
    pipeline={{{{_base_.train_pipeline}}}}))
"""


def launcher(gpus: int, tool: Path) -> list[str]:
    if gpus <= 1:
        return [PY, str(tool)]
    return [PY, '-m', 'torch.distributed.run', f'--nproc_per_node={gpus}', str(tool)]


def build_plan(args) -> tuple[list[dict], dict[Path, str]]:
    """The ordered runs (name, cmd, out_dir, done) and the derived config files to write."""
    work = Path(args.work_dir).resolve()
    fh = str(Path(args.data_root).resolve()) + '/'
    files: dict[Path, str] = {}
    plan = []
    dist = ['--launcher', 'pytorch'] if args.gpus > 1 else []
    if PAPER_BATCH % (args.gpus * PRETRAIN_PER_GPU):
        raise SystemExit(f'--gpus {args.gpus}: {PAPER_BATCH} is not a multiple of {args.gpus} x {PRETRAIN_PER_GPU}')
    accumulate = PAPER_BATCH // (args.gpus * PRETRAIN_PER_GPU)
    backbones = {}
    for algo in ('peclr', 'simclr'):
        cfg, extra = pretrain_config(algo, args.arch)
        out = work / 'pretrain' / algo
        opts = [f'optim_wrapper.accumulative_counts={accumulate}', f'randomness.seed={args.seed}', *extra]
        if args.yt3dh_root:
            opts += [f'train_dataloader.dataset.datasets.0.data_root={fh}',
                     f'train_dataloader.dataset.datasets.1.data_root={Path(args.yt3dh_root).resolve()}/']
        else:
            derived = work / 'configs' / cfg.name.replace('freihand-yt3dh', 'freihand')
            files[derived] = FREIHAND_ONLY.format(base_name=cfg.name, base=str(cfg), data_root=fh, versions=VERSIONS)
            cfg = derived
        if args.gpus == 1:  # SyncBN needs a process group
            opts += ['model.backbone.norm_cfg.type=BN', 'model.neck.norm_cfg.type=BN1d']
        ckpt = out / 'epoch_100.pth'
        plan.append(dict(name=f'pretrain/{algo}', out=out, done=ckpt,
                         cmd=[*launcher(args.gpus, TOOLS['pretrain_train']), str(cfg), '--work-dir', str(out),
                              *dist, '--cfg-options', *opts]))
        backbones[algo] = out / 'backbone.pth'
        plan.append(dict(name=f'export/{algo}', out=out / 'export', done=backbones[algo],
                         cmd=[PY, str(TOOLS['export']), str(ckpt), str(backbones[algo])]))
    for fraction in args.fractions:
        for init in INITS:
            name = run_name(init, fraction)
            cfg = finetune_config(init, fraction, args.arch)
            out = work / 'finetune' / name
            data = [f'{split}_dataloader.dataset.data_root={fh}' for split in ('train', 'val', 'test')]
            opts = [*data, f'randomness.seed={args.seed}']
            if fraction != 1.0:
                opts += [f'train_dataloader.dataset.label_fraction={fraction}',
                         f'train_dataloader.dataset.seed={args.seed}']
            if init != 'scratch':
                opts.append(f'model.backbone.init_cfg.checkpoint={backbones[init]}')
            scale = ['--auto-scale-lr'] if args.gpus != 8 else []
            ckpt = out / 'epoch_100.pth'
            plan.append(dict(name=f'finetune/{name}', out=out, done=ckpt,
                             cmd=[*launcher(args.gpus, TOOLS['pose_train']), str(cfg), '--work-dir', str(out),
                                  *dist, *scale, '--cfg-options', *opts]))
            pred = out / 'pred.json'
            plan.append(dict(name=f'test/{name}', out=out / 'test', done=pred,
                             cmd=[PY, str(TOOLS['pose_test']), str(cfg), str(ckpt),
                                  '--work-dir', str(out / 'test'), '--cfg-options',
                                  f'test_dataloader.dataset.data_root={fh}', f'test_evaluator.pred_json={pred}']))
    return plan, files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description='PeCLR vs SimCLR vs scratch on real FreiHAND at the paper scale.')
    parser.add_argument('--data-root', required=True, help='FreiHAND release folder (training_*.json, evaluation_*.json)')
    parser.add_argument('--yt3dh-root', help='YouTube3DHands folder (youtube_train.json + frames); omit for FreiHAND only')
    parser.add_argument('--preset', choices=['paper'], default='paper', help='the paper\'s configs (ResNet, 100 epochs)')
    parser.add_argument('--arch', choices=sorted(ARCH_DEPTH), default='rn50', help='backbone (paper: rn50, rn152)')
    parser.add_argument('--gpus', type=int, default=8, help='GPUs per run (paper: 8)')
    parser.add_argument('--fractions', type=float, nargs='+', default=list(FRACTIONS), help='label fractions')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/reproduce')
    parser.add_argument('--dry-run', action='store_true', help='print the configs and commands, run nothing')
    parser.add_argument('--force', action='store_true', help='rerun finished stages')
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error('--gpus must be >= 1')
    for f in args.fractions:
        if not 0 < f <= 1:
            parser.error(f'--fractions: {f} is not in (0, 1]')
    if not args.dry_run:
        for path in (annotation_file(args.data_root, split, 'xyz') for split in SPLITS):
            if not osp.exists(path):
                raise SystemExit(f'{path}: missing; --data-root must be the FreiHAND release')

    plan, files = build_plan(args)
    print(f'# {len(plan)} runs, preset {args.preset}, {args.arch}, {args.gpus} GPU(s), seed {args.seed}, '
          f'work dir {Path(args.work_dir).resolve()}')
    for path, text in files.items():
        print(f'# derived config {path}:')
        print(''.join(f'#   {line}\n' for line in text.splitlines()), end='')
        if not args.dry_run:
            atomic_write_text(path, text)
    if args.dry_run:
        for step in plan:
            print(f'# {step["name"]} -> {step["done"]}')
            print(f'(cd {shlex.quote(str(ROOT))} && PYTHONPATH=. {shlex.join(step["cmd"])})')
        return 0
    stages = Stages(args.force)
    stages.env.pop('OMP_NUM_THREADS', None)  # the CPU demo's setting; GPU runs use the defaults
    stages.env.pop('MKL_NUM_THREADS', None)
    for step in plan:
        stages.run(step['name'], step['cmd'], step['out'], step['done'])
    print('# done; metrics in', Path(args.work_dir).resolve() / 'finetune' / '*' / 'test')
    return 0


if __name__ == '__main__':
    sys.exit(main())
