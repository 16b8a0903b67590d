"""The command line of ``tools/gpu_check.py``: the sizes from the arguments, the check or (``numerics ...``) the
numerical checks."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from .sizes import GPU, TINY, Sizes

# the Sizes fields that --<field> (an integer) overrides
INT_OVERRIDES = ('num_train', 'num_eval', 'pretrain_iters', 'finetune_iters', 'workers', 'pretrain_batch',
                 'finetune_batch')


def sizes_from_args(a: argparse.Namespace) -> Sizes:
    sizes = TINY if a.tiny else GPU
    changes = {k: getattr(a, k) for k in (*INT_OVERRIDES, 'budget_s') if getattr(a, k, None) is not None}
    if a.no_amp:
        changes['amp'] = False
    return dataclasses.replace(sizes, **changes)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='tools/gpu_check.py', description=sys.modules[__package__].__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog='GPU defaults: ' + ', '.join(f'{k} {v}' for k, v in dataclasses.asdict(GPU).items())
                                + '\n--tiny: ' + ', '.join(f'{k} {v}' for k, v in dataclasses.asdict(TINY).items()))
    p.add_argument('--tiny', action='store_true', help='the CPU path: tiny sizes, ResNet-18 w16, fp32, gloo (~1 min)')
    p.add_argument('--out', help='results folder (default: $OUT, else WORK_DIR/out)')
    p.add_argument('--work-dir', help='data, runs and logs (default: a new temporary folder)')
    p.add_argument('--wheelhouse', default='auto',
                   help="wheels to install into WORK_DIR/site: 'auto' (device_wheels/ when the stack is not "
                        "importable), 'none', or a folder")
    for name in INT_OVERRIDES:
        p.add_argument('--' + name.replace('_', '-'), type=int, help=f'override {name}')
    p.add_argument('--budget-s', type=float, help='wall-clock budget; later steps are skipped past it')
    p.add_argument('--no-amp', action='store_true', help='fp32 training on the GPU (no bf16 autocast)')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['numerics']:
        from .numerics import main as numerics_main
        return numerics_main(argv[1:])
    from .check import run_check
    a = parser().parse_args(argv)
    return run_check(sizes_from_args(a), 'tiny' if a.tiny else 'gpu', a.work_dir, a.out, a.wheelhouse)


if __name__ == '__main__':
    sys.exit(main())
