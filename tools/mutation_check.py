"""Mutation check: does the test suite catch plausible bugs in the code that matters?

    .venv/bin/python tools/mutation_check.py            # every mutation below (~10-15 min on 2 cores)
    .venv/bin/python tools/mutation_check.py -k peclr    # those whose name contains "peclr"
    .venv/bin/python tools/mutation_check.py --list

Each mutation replaces one exact snippet of one file (which must occur exactly once) in a scratch copy of the
working tree and runs the test files named for it (``pytest -x -q``); a mutation is *caught* when they fail.
The clone itself is never modified. Exit status 1 when a mutation survives or no longer applies. Not part of
CI's budget: run it before a change to the files listed here lands (docs/contributing.md).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Mutation(NamedTuple):
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


SELFSUP = ('tests/test_selfsup_core_checks.py', 'tests/test_selfsup_peclr.py')
HEAD = ('tests/test_pose_core_checks.py', 'tests/test_pose_head.py')
RELEASE = ('tests/test_selfsup_release_recipe.py',)

MUTATIONS = (
    # PeCLR's loss path
    Mutation('peclr: each view undone with the other view\'s matrix', 'peclr_mm/selfsup/peclr.py',
             'return stacked.flatten(0, 1)', 'return stacked[:, [1, 0]].flatten(0, 1)', SELFSUP),
    Mutation('peclr: positive pair index off by one', 'peclr_mm/selfsup/peclr.py',
             'pos = (rows ^ 1)[:, None]', 'pos = ((rows + 1) % (2 * n))[:, None]', SELFSUP),
    Mutation('peclr: translation undone with the wrong sign', 'peclr_mm/selfsup/equivariance.py',
             "q = q - parts['shift'][:, None, :]", "q = q + parts['shift'][:, None, :]", SELFSUP),
    Mutation('gather: backward keeps only the local gradient', 'peclr_mm/selfsup/gather.py',
             'dist.all_reduce(g)  #', 'pass  #', ('tests/test_selfsup_ddp.py',)),
    Mutation('equivariance hook: ignores the model\'s inverse mode', 'peclr_mm/selfsup/equivariance_hook.py',
             "mode = self.mode or getattr(model, 'mode', 'exact')", "mode = self.mode or 'exact'",
             ('tests/test_selfsup_core_checks.py', 'tests/test_selfsup_diagnostics.py')),
    # the release recipe
    Mutation('LARSAdam: no clipping at the learning rate', 'peclr_mm/selfsup/release_optim.py',
             'if self.clip:  #', 'if False:  #', RELEASE),
    Mutation('release groups: stem BN excluded from weight decay', 'peclr_mm/selfsup/release_optim.py',
             "(re.compile(r'^backbone\\.bn1\\.'), 'encoder.features.1.'),",
             "(re.compile(r'^backbone\\.bn1\\.'), 'encoder.features.bn1.'),", RELEASE),
    Mutation('sampler: weights proportional to the source size', 'peclr_mm/selfsup/source_sampler.py',
             'item = np.repeat(w / np.asarray(sizes), sizes)', 'item = np.repeat(w * 1.0, sizes)', RELEASE),
    Mutation('release view: jitter record with the wrong sign', 'peclr_mm/selfsup/release_view.py',
             'record = (cx - side - ox, cy - side - oy)', 'record = (ox - cx + side, oy - cy + side)', RELEASE),
    Mutation('schedule: counted in iterations, not optimizer steps', 'peclr_mm/selfsup/release_optim.py',
             'step = (self.last_step - self.begin) // self.accumulative_counts',
             'step = self.last_step - self.begin', RELEASE),
    # the demo's resume
    Mutation('stage resume: ignores the resolved config', 'tools/peclr_lab/experiments/stages.py',
             "if rec.get('config_sha1') != key['config_sha1']:", 'if False:',
             ('tests/test_demo_reliability.py', 'tests/test_experiments.py')),
    Mutation('stage resume: ignores a missing output', 'tools/peclr_lab/experiments/stages.py',
             'if not stage.done.exists():\n        return', 'if False:\n        return',
             ('tests/test_demo_reliability.py', 'tests/test_experiments.py')),
    Mutation('stage resume: ignores upstream outputs', 'tools/peclr_lab/experiments/stages.py',
             "upstream={name: file_sha1(p) for name, p in (upstream or {}).items()}", 'upstream={}',
             ('tests/test_demo_reliability.py', 'tests/test_experiments.py')),
    # fine-tuning and evaluation
    Mutation('refine: the MLP output without the closed-form root', 'peclr_mm/pose/regression25d_head.py',
             'return root + self.root_mlp(mlp_in).view(-1)', 'return self.root_mlp(mlp_in).view(-1)', HEAD),
    Mutation('refine: closed-form root not detached', 'peclr_mm/pose/regression25d_head.py',
             'root_depth_torch(rays, zrel, self.scale_bone).detach()', 'root_depth_torch(rays, zrel, self.scale_bone)',
             HEAD),
    Mutation('root depth: no real root evaluated in the cancellation-free form', 'peclr_mm/pose/root_depth.py',
             'pos = (b <= 0) | (disc <= eps)', 'pos = b <= 0', ('tests/test_pose_codec.py',)),
    Mutation('head: z_loss_weight divides', 'peclr_mm/pose/regression25d_head.py',
             '* self.z_loss_weight)', '/ self.z_loss_weight)', HEAD),
    Mutation('F-score: precision counts distance <= threshold', 'peclr_mm/freihand/scorer.py',
             'precision = (d_gt[..., None] < th)', 'precision = (d_gt[..., None] <= th)',
             ('tests/test_pose_core_checks.py', 'tests/test_pose_scorer.py')),
    Mutation("TopdownAffine3D: K' = K (the crop's affine not applied)", 'peclr_mm/pose/transforms.py',
             "results['input_K'] = np.einsum('ij,njk->nik', affine, np.asarray(results['K'], np.float64))",
             "results['input_K'] = np.asarray(results['K'], np.float64)", ('tests/test_pose_codec.py',)),
    Mutation('Procrustes: no scale', 'peclr_mm/freihand/scorer.py', 's = (rot * m).sum(axis=(1, 2))',
             's = np.ones(len(rot))', ('tests/test_pose_scorer.py',)),
)


def scratch_copy(dest: Path) -> None:
    """The files git tracks or would track (untracked, not ignored), as in the working tree."""
    names = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split('\0')
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def run(m: Mutation, tree: Path) -> tuple[str, float]:
    path = tree / m.path
    original = path.read_text()
    count = original.count(m.old)
    if count != 1:
        return f'does not apply ({count} matches)', 0.0
    path.write_text(original.replace(m.old, m.new))
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE='1')
    t0 = time.time()
    try:
        proc = subprocess.run([sys.executable, '-m', 'pytest', '-x', '-q', '-p', 'no:cacheprovider', *m.tests],
                              cwd=tree, env=env, capture_output=True, text=True)
    finally:
        path.write_text(original)
    return ('caught' if proc.returncode != 0 else 'SURVIVED'), time.time() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('-k', default='', help='run only mutations whose name contains this text')
    p.add_argument('--list', action='store_true', help='list the mutations and exit')
    a = p.parse_args(argv)
    chosen = [m for m in MUTATIONS if a.k in m.name]
    if a.list:
        for m in chosen:
            print(f'{m.name}  [{m.path}; {" ".join(m.tests)}]')
        return 0
    bad = 0
    with tempfile.TemporaryDirectory(prefix='peclr-mutation-') as tmp:
        scratch_copy(Path(tmp))
        print('| mutation | file | result | seconds |\n| --- | --- | --- | ---: |')
        for m in chosen:
            result, secs = run(m, Path(tmp))
            bad += result != 'caught'
            print(f'| {m.name} | `{m.path}` | {result} | {secs:.0f} |', flush=True)
    print(f'{len(chosen) - bad} of {len(chosen)} caught')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
