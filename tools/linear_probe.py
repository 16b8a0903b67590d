"""Linear probe of a frozen backbone on FreiHAND-style data: ridge regression to the 2.5-D pose.

    python tools/linear_probe.py CONFIG [--checkpoint BACKBONE.pth] [--data-root DIR] [--num-train N]
        [--num-eval N] [--seed S] [--out results.json]

``CONFIG`` is an mmpose top-down config of this project (e.g. ``configs/demo/td-reg25d_res18-w32_1xb32-
600it_synth-freihand3d-64x64.py``); ``--checkpoint`` a backbone file from ``tools/export_backbone.py`` (or
any checkpoint with ``backbone.*`` weights; default: the config's random initialisation, seeded). Features
of the training split (deterministic test pipeline, all labels) fit a ridge regression whose penalty is
chosen on held-out training samples; the evaluation split is scored with FreiHAND's protocol, beside a
mean-pose baseline. Prints a table; ``--out`` writes the results as JSON, atomically. Bad input: a
one-line error, exit status 1, nothing written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mmengine.config import Config, DictAction  # noqa: E402

from peclr_mm.checkpoint import UnsafeCheckpointError  # noqa: E402
from peclr_mm.fileio import atomic_write_json  # noqa: E402
from peclr_mm.pose.linear_probe import format_table, linear_probe  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='mmpose top-down config (train/test datasets, model)')
    parser.add_argument('--checkpoint', default=None, help='backbone weights with backbone.* keys '
                        '(default: the config\'s random init)')
    parser.add_argument('--data-root', default=None, help='data_root of the train and test datasets')
    parser.add_argument('--num-train', type=int, default=None, help='random subset of training images')
    parser.add_argument('--num-eval', type=int, default=None, help='random subset of evaluation images')
    parser.add_argument('--seed', type=int, default=0, help='seed of subsets, held-out split and init')
    parser.add_argument('--out', default=None, help='write the results to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    args = parser.parse_args(argv)
    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        if args.data_root is not None:
            for split in ('train', 'test'):
                cfg[f'{split}_dataloader'].dataset.data_root = args.data_root
        res = linear_probe(cfg, checkpoint=args.checkpoint, num_train=args.num_train,
                           num_eval=args.num_eval, seed=args.seed)
    except (ValueError, OSError, UnsafeCheckpointError) as e:
        print(f'error: {" ".join(str(e).split())}', file=sys.stderr)
        return 1
    res = dict(res, config=args.config, checkpoint=args.checkpoint, seed=args.seed)
    print(f'{args.config}: {res["num_train"]} training / {res["num_eval"]} evaluation images, '
          f'{res["feature_dim"]}-d features, lambda {res["lambda"]:g}, {res["seconds"]:.1f} s')
    print(format_table(res))
    if args.out:
        atomic_write_json(args.out, res)
    return 0


if __name__ == '__main__':
    sys.exit(main())
