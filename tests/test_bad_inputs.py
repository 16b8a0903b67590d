"""Bad input to the command-line tools: one line on stderr naming the file and what is wrong, exit status 1
or 2, nothing written or replaced. The table in docs/reliability.md is checked against these cases."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from peclr_mm.fileio import atomic_write_set

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / 'docs' / 'reliability.md'


def _fixtures(tmp: Path) -> None:
    """Inputs of every case, made once per test session folder."""
    (tmp / 'text.pth').write_text('hello\nthis is not a checkpoint\n')
    (tmp / 'empty.pth').write_bytes(b'')
    sd = {'backbone.conv1.weight': torch.ones(2, 3, 1, 1), 'head.fc.weight': torch.ones(1)}
    torch.save({'state_dict': sd}, tmp / 'ckpt.pth')
    (tmp / 'truncated.pth').write_bytes((tmp / 'ckpt.pth').read_bytes()[:300])
    torch.save({'state_dict': {'head.fc.weight': torch.ones(1)}}, tmp / 'head_only.pth')
    torch.save({'state_dict': {'backbone.w': np.ones(2)}}, tmp / 'numpy.pth')
    rng = np.random.default_rng(0)
    xyz = (rng.normal(size=(2, 21, 3)) * 0.05 + [0, 0, 0.6]).tolist()
    (tmp / 'gt').mkdir()
    (tmp / 'gt' / 'evaluation_xyz.json').write_text(json.dumps(xyz))
    pred = [xyz, [[[0.0, 0.0, 0.6]] * 4] * 2]
    for name, (i, j, k, value) in {'string': (1, 3, 2, '0.5'), 'bool': (0, 0, 0, True),
                                   'huge': (0, 0, 0, 1e300)}.items():
        bad = json.loads(json.dumps(pred))
        bad[0][i][j][k] = value
        (tmp / f'pred_{name}.json').write_text(json.dumps(bad))
    (tmp / 'pred.json').write_text(json.dumps(pred))
    (tmp / 'a_file').write_text('x')
    (tmp / 'mine').mkdir()
    (tmp / 'mine' / 'important.txt').write_text('keep me')


# (case, tool, arguments; {t} is the fixture folder), the message (regex), files that must be unchanged
CASES = [
    ('checkpoint is a text file', 'export_backbone.py', '{t}/text.pth {t}/out.pth',
     r'text.pth: not a readable torch checkpoint'),
    ('checkpoint is empty', 'export_backbone.py', '{t}/empty.pth {t}/out.pth', r'empty.pth: empty file \(0 bytes\)'),
    ('checkpoint is truncated', 'export_backbone.py', '{t}/truncated.pth {t}/out.pth',
     r'truncated.pth: not a readable torch checkpoint .*PytorchStreamReader'),
    ('output is the input', 'export_backbone.py', '{t}/ckpt.pth {t}/./ckpt.pth',
     r'ckpt.pth: output is the input checkpoint'),
    ('no backbone weights', 'export_backbone.py', '{t}/head_only.pth {t}/out.pth',
     r'head_only.pth: no "backbone.\*" weights in state_dict; found 1 keys under \[\'head.\*\'\]'),
    ('numpy arrays in state_dict', 'export_backbone.py', '{t}/numpy.pth {t}/out.pth',
     r'numpy.pth: field "state_dict" holds non-tensor values \(1 of 1, e.g. "backbone.w": ndarray\)'),
    ('converter: output is the input', 'convert_official_peclr.py', '{t}/ckpt.pth {t}/ckpt.pth',
     r'ckpt.pth: output is the input checkpoint'),
    ('string in pred.json', 'eval_freihand.py', '{t}/pred_string.json {t}/gt --out {t}/scores',
     r"pred_string.json: field 'pred' must hold numbers only; found \[0\]\[1\]\[3\]\[2\] \(\"0.5\"\)"),
    ('boolean in pred.json', 'eval_freihand.py', '{t}/pred_bool.json {t}/gt --out {t}/scores',
     r"pred_bool.json: field 'pred' must hold numbers only; found \[0\]\[0\]\[0\]\[0\] \(true\)"),
    ('1e300 in pred.json', 'eval_freihand.py', '{t}/pred_huge.json {t}/gt --out {t}/scores',
     r"pred_huge.json: scores \['xyz_mean3d'\] are not finite"),
    ('--out is a file', 'eval_freihand.py', '{t}/pred.json {t}/gt --out {t}/a_file',
     r'a_file: cannot write scores.txt / pck_data.json there'),
    ('--out under a file', 'eval_freihand.py', '{t}/pred.json {t}/gt --out {t}/a_file/sub',
     r'a_file/sub: cannot write scores.txt / pck_data.json there \(Not a directory\)'),
    ('--overwrite on a folder it did not write', 'make_synthetic_freihand.py',
     '{t}/mine --num-train 1 --num-eval 1 --size 64 --overwrite',
     r'mine: not a dataset written by make_synthetic_freihand \(no .peclr_mm_synthetic.json\)'),
    ('--num-eval 0', 'make_synthetic_freihand.py', '{t}/synth --num-train 1 --num-eval 0',
     r'--num-eval must be >= 1, got 0'),
]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


def _run(tool: str, args: str, tmp: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    return subprocess.run([sys.executable, str(ROOT / 'tools' / tool), *args.format(t=tmp).split()],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


@pytest.fixture(scope='module')
def outcomes(tmp_path_factory) -> dict:
    """Every case run once, two at a time, each in its own copy of the inputs:
    case -> (folder, files before, completed process, files after)."""
    from concurrent.futures import ThreadPoolExecutor

    # Folders are made here, not in the threads: tmp_path_factory is not thread-safe (two threads making
    # the session's base folder at once each make one, and mktemp then refuses the other's path).
    folders = {case[0]: tmp_path_factory.mktemp('bad') for case in CASES}

    def one(case):
        name, tool, args, _ = case
        tmp = folders[name]
        _fixtures(tmp)
        before = _snapshot(tmp)
        res = _run(tool, args, tmp)
        return name, (tmp, before, res, _snapshot(tmp))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, CASES))


@pytest.mark.parametrize('case,tool,args,message', CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_nothing_written(outcomes, case, tool, args, message):
    _, before, res, after = outcomes[case]
    lines = res.stderr.strip().splitlines()
    assert res.returncode in (1, 2), res.stderr
    assert len(lines) == 1, res.stderr
    assert re.search(message, lines[0]), lines[0]
    assert after == before  # nothing written, nothing replaced or deleted


def test_score_files_are_replaced_as_a_set(tmp_path):
    """A failure while writing the second file leaves the first one old (scores never beside a stale curve)."""
    (tmp_path / 'scores.txt').write_text('old scores')

    def fail(f):
        raise OSError('disk full')

    with pytest.raises(OSError, match='disk full'):
        atomic_write_set({tmp_path / 'scores.txt': lambda f: f.write('new scores'),
                          tmp_path / 'pck_data.json': fail})
    assert (tmp_path / 'scores.txt').read_text() == 'old scores'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['scores.txt']  # no temporary files left
    atomic_write_set({tmp_path / 'scores.txt': lambda f: f.write('new scores'),
                      tmp_path / 'pck_data.json': lambda f: f.write('{}')})
    assert (tmp_path / 'scores.txt').read_text() == 'new scores'


def test_docs_table_lists_every_case(outcomes):
    """docs/reliability.md shows each case with the message the tool really prints (paths shortened)."""
    text = DOC.read_text()
    for case, tool, args, _ in CASES:
        tmp, _, res, _ = outcomes[case]
        line = res.stderr.strip().replace(str(tmp), '<tmp>')
        row = f'| {case} | `{tool} {args.replace("{t}", "<tmp>")}` | `{line}` |'
        assert row in text, f'docs/reliability.md lacks or differs in the row:\n{row}'
