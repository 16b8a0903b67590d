"""Linear probe of a frozen backbone on FreiHAND-style data: ridge regression to the 2.5-D pose, or, with
``--geometry``, the geometry probe of several backbones beside its baselines.

    python tools/linear_probe.py CONFIG [--checkpoint BACKBONE.pth] [--data-root DIR] [--num-train N]
        [--num-eval N] [--seed S] [--out results.json]
    python tools/linear_probe.py CONFIG --geometry [--checkpoint [NAME=]CKPT ...] [--control [NAME=]CKPT]
        [--data-root DIR] [--num-train N] [--num-eval N] [--budgets 200 all] [--spatial-stage 2] [--grid 4]
        [--seed S] [--out geometry.json]

``CONFIG`` is an mmpose top-down config of this project (e.g. ``configs/demo/td-reg25d_res18-w32_1xb32-
500it_synth-freihand3d-64x64.py``); ``--checkpoint`` a backbone file from ``tools/export_backbone.py`` (or
any checkpoint with ``backbone.*`` weights; default: the config's random initialisation, seeded). Features
of the training split (deterministic test pipeline, all labels) fit a ridge regression whose penalty is
chosen on held-out training samples; the evaluation split is scored with FreiHAND's protocol, beside a
mean-pose baseline. Prints a table; ``--out`` writes the results as JSON, atomically.

``--geometry``: every ``--checkpoint`` (pretraining checkpoints too: one with ``neck.*`` weights and the
pretraining config in ``meta.cfg``, as mmengine writes it, adds the projection z), the random-weights
baseline (the config's architecture, seeded; with a random neck when a checkpoint has one) and the
``--control`` (a fine-tuned 2.5-D checkpoint: can the probe read pose at all?) are probed for the hand's
in-plane orientation (degrees), the 2-D keypoints (px) and PA-EPE (mm) from the pooled last stage, an earlier
stage pooled to a grid and z, by ridge and k-NN, at each label budget, beside the mean pose
(:func:`peclr_mm.pose.linear_probe.probe_backbones`). ``--out X.json`` also writes the table to ``X.md``,
both atomically. Bad input: a one-line error, exit status 1, nothing written.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mmengine.config import Config, DictAction

from peclr_mm.checkpoint import UnsafeCheckpointError
from peclr_mm.fileio import atomic_write_json, atomic_write_set
from peclr_mm.pose.linear_probe import (
    format_geometry_table,
    format_table,
    linear_probe,
    load_prefixed_weights,
    probe_backbones,
)

RANDOM, CONTROL = 'random weights', 'fine-tuned (control)'


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='mmpose top-down config (train/test datasets, model)')
    parser.add_argument('--checkpoint', nargs='+', default=[], metavar='[NAME=]CKPT',
                        help='backbone weights with backbone.* keys (default: the config\'s random init); '
                        'with --geometry, any number, named NAME=CKPT')
    parser.add_argument('--geometry', action='store_true', help='the geometry probe (orientation, 2-D '
                        'keypoints, PA-EPE; several feature sets, ridge and k-NN, label budgets, baselines)')
    parser.add_argument('--control', default=None, metavar='[NAME=]CKPT',
                        help='--geometry: a fine-tuned checkpoint, the positive control')
    parser.add_argument('--budgets', nargs='+', default=['200', 'all'],
                        help='--geometry: label budgets in training images, or "all" (default: 200 all)')
    parser.add_argument('--spatial-stage', type=int, default=2,
                        help='--geometry: the earlier stage of the spatial features, from 0 (default: 2)')
    parser.add_argument('--grid', type=int, default=4, help='--geometry: its grid per side (default: 4)')
    parser.add_argument('--data-root', default=None, help='data_root of the train and test datasets')
    parser.add_argument('--num-train', type=int, default=None, help='random subset of training images')
    parser.add_argument('--num-eval', type=int, default=None, help='random subset of evaluation images')
    parser.add_argument('--seed', type=int, default=0, help='seed of subsets, held-out split and init')
    parser.add_argument('--device', default='cpu', help='where the backbones run (default: cpu)')
    parser.add_argument('--out', default=None, help='write the results to this JSON file (--geometry: and '
                        'the table beside it, .md)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser


def _config(args: argparse.Namespace) -> Config:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root is not None:
        for split in ('train', 'test'):
            cfg[f'{split}_dataloader'].dataset.data_root = args.data_root
    return cfg


def _named(spec: str, default: str | None = None) -> tuple[str, str]:
    """``NAME=PATH`` -> (NAME, PATH); a bare PATH is named ``default`` or itself."""
    name, sep, path = spec.partition('=')
    return (name, path) if sep and name and path else (default or spec, spec)


def _budgets(values: list[str]) -> list[int | None]:
    out = []
    for v in values:
        if v == 'all':
            out.append(None)
        elif v.isdigit() and int(v) > 0:
            out.append(int(v))
        else:
            raise ValueError(f'--budgets: each must be a positive number of images or "all", got {v!r}')
    return out


def _pretrain_neck(path: str) -> tuple[Any, Any] | tuple[None, None]:
    """(projection neck with the checkpoint's ``neck.*`` weights, its config) of a SelfSupervisor
    checkpoint, built with mmpretrain from the config in ``meta.cfg``; (None, None) without ``neck.*``."""
    from peclr_mm.checkpoint import load_checkpoint_safe, state_dict_of
    ckpt = load_checkpoint_safe(path)
    weights = {k[len('neck.'):]: v for k, v in state_dict_of(ckpt, path).items() if k.startswith('neck.')}
    if not weights:
        return None, None
    text = (ckpt.get('meta') or {}).get('cfg')
    if not isinstance(text, str):
        raise ValueError(f'{path}: field "meta.cfg" missing: its "neck.*" weights need the pretraining config '
                         'to build the projection')
    neck_cfg = Config.fromstring(text, '.py').model.get('neck')
    if neck_cfg is None:
        raise ValueError(f'{path}: field "meta.cfg" has no model.neck for its "neck.*" weights')
    neck = _build_neck(neck_cfg)
    load_prefixed_weights(neck, weights, path, 'neck.', "meta.cfg's model.neck")
    return neck, neck_cfg


def _build_neck(neck_cfg: Any) -> Any:
    """An mmpretrain neck from its config (PyTorch's default initialisation, from torch's current seed)."""
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return MODELS.build(dict(neck_cfg, _scope_='mmpretrain'))


def _geometry(args: argparse.Namespace, cfg: Config) -> dict:
    import torch
    backbones: dict[str, str | None] = {RANDOM: None}
    for spec in args.checkpoint:
        name, path = _named(spec)
        if name in backbones or name == CONTROL:
            raise ValueError(f'--checkpoint: the name {name!r} is used twice (name them NAME=CKPT)')
        backbones[name] = path
    necks, neck_cfg = {}, None
    for name, path in list(backbones.items())[1:]:
        necks[name], this_cfg = _pretrain_neck(path)
        neck_cfg = neck_cfg or this_cfg
    if neck_cfg is not None:  # the random baseline gets a random projection of the same architecture
        torch.manual_seed(args.seed)
        necks[RANDOM] = _build_neck(neck_cfg)
    control = None
    if args.control:
        control, path = _named(args.control, CONTROL)
        if control in backbones:
            raise ValueError(f'--control: the name {control!r} is already a --checkpoint\'s')
        backbones[control] = path
    res = probe_backbones(cfg, backbones, {k: v for k, v in necks.items() if v is not None},
                          num_train=args.num_train, num_eval=args.num_eval, budgets=_budgets(args.budgets),
                          spatial_stage=args.spatial_stage, grid=args.grid, seed=args.seed, device=args.device)
    with_z = sorted(k for k, v in necks.items() if v is not None)
    return dict(res, config=args.config, backbones=backbones, random=RANDOM, control=control,
                with_projection=with_z, seed=args.seed,
                budgets=args.budgets, spatial_stage=args.spatial_stage, grid=args.grid)


def _write_geometry(out: str, res: dict, table: str) -> None:
    json_path = Path(out)
    md = (f'# Geometry probe\n\n`{res["config"]}`: {res["num_train"]} training / {res["num_eval"]} evaluation '
          f'images, seed {res["seed"]}; errors on the evaluation images (orientation: wrist -> middle-MCP '
          'direction in the input, chance 90 deg).\n\n' + table + '\n')
    atomic_write_set({json_path: lambda f: json.dump(res, f),
                      json_path.with_suffix('.md'): lambda f: f.write(md)})


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not args.geometry and len(args.checkpoint) > 1:
            raise ValueError('--checkpoint: one backbone file (several need --geometry)')
        cfg = _config(args)
        if args.geometry:
            res = _geometry(args, cfg)
        else:
            res = linear_probe(cfg, checkpoint=(args.checkpoint or [None])[0], num_train=args.num_train,
                               num_eval=args.num_eval, seed=args.seed, device=args.device)
    except (ValueError, KeyError, OSError, UnsafeCheckpointError) as e:
        print(f'error: {" ".join(str(e).split())}', file=sys.stderr)
        return 1
    if args.geometry:
        table = format_geometry_table(res['rows'])
        print(f'{args.config}: {res["num_train"]} training / {res["num_eval"]} evaluation images, '
              f'{res["seconds"]:.1f} s')
        print(table)
        if args.out:
            _write_geometry(args.out, res, table)
        return 0
    res = dict(res, config=args.config, checkpoint=(args.checkpoint or [None])[0], seed=args.seed)
    print(f'{args.config}: {res["num_train"]} training / {res["num_eval"]} evaluation images, '
          f'{res["feature_dim"]}-d features, lambda {res["lambda"]:g}, {res["seconds"]:.1f} s')
    print(format_table(res))
    if args.out:
        atomic_write_json(args.out, res)
    return 0


if __name__ == '__main__':
    sys.exit(main())
