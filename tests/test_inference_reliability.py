"""Inference never loses or mixes results and never predicts from weights it did not load: the output folder
is checked against the input (``check_outputs``), outputs keep the input's full name and existing files are
kept unless asked, and a checkpoint that does not fit the config (a pretraining one, another width or depth)
is a one-line error (``load_weights_strict``), in the API and in ``tools/infer.py``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import peclr_mm.pose  # noqa: F401  (registers the modules, safe checkpoint loading)
from peclr_mm.pose.inference import CheckpointMismatchError, init_hand25d_model, load_weights_strict
from peclr_mm.pose.inference_inputs import InputError, check_outputs

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / 'configs' / 'freihand3d' / 'td-reg25d_res18_1xb8-1e_freihand3d-64x64.py'
WIDTH32 = ROOT / 'configs' / 'demo' / 'td-reg25d_res18-w32_1xb32-500it_synth-freihand3d-64x64.py'
PRETRAIN = ROOT / 'configs' / 'peclr' / 'peclr_resnet18_1xb4-4it_freihand-64px.py'


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return init_hand25d_model(TINY, None)


def _save(module: torch.nn.Module, path: Path, meta: dict | None = None) -> Path:
    torch.save(dict(state_dict=module.state_dict(), meta=meta or {}), path)
    return path


@pytest.fixture(scope='module')
def checkpoints(model, tmp_path_factory) -> dict[str, Path]:
    """The tiny model's own checkpoint (with a marked dataset_meta) and checkpoints that do not fit it: the
    PeCLR pretraining model of the tiny pretraining config (backbone.*, neck.*), its exported backbone,
    the width-32 demo model and the tiny model at depth 34."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import peclr_mm.selfsup  # noqa: F401
    tmp = tmp_path_factory.mktemp('ckpts')
    meta = dict(dataset_meta=dict(model.dataset_meta, dataset_name='from-the-checkpoint'))
    out = dict(good=_save(model, tmp / 'good.pth', meta))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pretrain = MODELS.build(Config.fromfile(str(PRETRAIN)).model)
    out['pretrain'] = _save(pretrain, tmp / 'pretrain.pth')
    torch.save(dict(state_dict={k: v for k, v in pretrain.state_dict().items() if k.startswith('backbone.')}),
               tmp / 'backbone.pth')
    out['backbone'] = tmp / 'backbone.pth'
    out['width32'] = _save(init_hand25d_model(WIDTH32, None), tmp / 'width32.pth')
    deeper = init_hand25d_model(TINY, None, cfg_options={'model.backbone.depth': 34})
    out['depth34'] = _save(deeper, tmp / 'depth34.pth')
    return out


def test_a_fitting_checkpoint_loads_every_weight(model, checkpoints):
    loaded = init_hand25d_model(TINY, str(checkpoints['good']))
    want = torch.load(checkpoints['good'], weights_only=True)['state_dict']
    got = loaded.state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert loaded.dataset_meta['dataset_name'] == 'from-the-checkpoint'  # checkpoint before config, as mmpose
    assert not loaded.training


# (checkpoint, the one-line message: every fragment must appear)
MISFITS = [
    ('pretrain', ['pretrain.pth: no head weights (keys under backbone., neck.): a pretraining checkpoint?',
                  'tools/export_backbone.py']),
    ('backbone', ['backbone.pth: no head weights (keys under backbone.): a pretraining checkpoint?']),
    ('width32', ['width32.pth: size mismatch for backbone.conv1.weight: checkpoint (32, 3, 7, 7) vs model '
                 '(64, 3, 7, 7) (and 100 more weights): trained with another width or depth than',
                 'td-reg25d_res18_1xb8-1e_freihand3d-64x64.py']),
    # ResNet-34 has 8 basic blocks more than ResNet-18 (3-4-6-3 vs 2-2-2-2), 12 state-dict keys each
    ('depth34', ['depth34.pth: 96 weight(s) not in the model (e.g. backbone.layer1.2.conv1.weight): trained '
                 'with another depth or head than']),
]


@pytest.mark.parametrize('name, fragments', MISFITS, ids=[m[0] for m in MISFITS])
def test_a_checkpoint_that_does_not_fit_is_one_line(model, checkpoints, name, fragments):
    """mmengine only warns about missing, unexpected and mis-shaped keys (the model then predicts from its
    random weights); the loader refuses, naming the checkpoint and the first offending key."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as err:
        load_weights_strict(model, str(checkpoints[name]))
    msg = str(err.value)
    assert '\n' not in msg and all(f in msg for f in fragments), msg
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing half-loaded
    with pytest.raises(CheckpointMismatchError, match=fragments[0].split(':')[0]):
        init_hand25d_model(TINY, str(checkpoints[name]))


def test_missing_weights_are_named(model, checkpoints, tmp_path):
    sd = torch.load(checkpoints['good'], weights_only=True)['state_dict']
    del sd['head.root_mlp.0.weight']
    torch.save(dict(state_dict=sd), tmp_path / 'partial.pth')
    with pytest.raises(CheckpointMismatchError, match=r'partial.pth: 1 model weight\(s\) missing '
                                                      r'\(e.g. head.root_mlp.0.weight\)'):
        load_weights_strict(model, str(tmp_path / 'partial.pth'))


@pytest.fixture()
def layout(tmp_path) -> Path:
    """``tmp/in`` holding a.jpg, ``tmp/link`` to it, ``tmp/clip.avi`` (empty: check_outputs reads names
    only) and the file ``tmp/a_file``."""
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'a.jpg'), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / 'clip.avi').write_bytes(b'')
    (tmp_path / 'a_file').write_text('x')
    os.symlink(tmp_path / 'in', tmp_path / 'link')
    return tmp_path


@pytest.mark.parametrize('source, out, message', [
    ('in', 'in', r'/in: --out is the input folder .*/in; write the results to another folder'),
    ('in', 'in/../in', r'--out is the input folder'),
    ('in', 'link', r'/link: --out is the input folder'),  # the same folder through a symlink
    ('in', 'in/results', r'/in/results: --out is inside the input folder .*/in; write the results to a'),
    ('in', '.', r': --out contains the input folder .*/in; write the results to a folder outside it'),
    ('in/a.jpg', 'in', r'/in: --out is the folder of the input .*/in/a.jpg; write the results to another'),
    ('in/a.jpg', '.', r'--out contains the folder of the input .*/in/a.jpg'),
    ('clip.avi', '.', r'--out is the folder of the input .*/clip.avi'),
    ('in', 'a_file', r'/a_file: --out exists and is not a folder'),
])
def test_out_may_not_be_at_the_inputs_place(layout, source, out, message):
    with pytest.raises(InputError, match=message) as err:
        check_outputs(layout / source, layout / out)
    assert '\n' not in str(err.value)


def test_out_beside_an_image_file_is_allowed(layout):
    """An image's or a video's folder is not an input folder: a new folder in it (``work_dirs/infer`` beside
    ``hand.jpg`` in a checkout) takes no input's place; a folder run never reads subfolders."""
    check_outputs(layout / 'in' / 'a.jpg', layout / 'in' / 'results')
    check_outputs(layout / 'clip.avi', layout / 'results')


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def hand_images(tmp_path_factory) -> Path:
    """A folder with hand.jpg and hand.png: one synthetic hand, the png mirrored (two different images)."""
    from peclr_lab.synthetic import render_sample
    folder = tmp_path_factory.mktemp('inputs') / 'in'
    folder.mkdir()
    image = render_sample(3, 'evaluation', 1, size=96).images[0]
    cv2.imwrite(str(folder / 'hand.jpg'), image)
    cv2.imwrite(str(folder / 'hand.png'), np.ascontiguousarray(image[:, ::-1]))
    return folder


def _infer_main(*args) -> int:
    """``tools/infer.py ARGS`` in this process (its ``main``)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('infer_tool', ROOT / 'tools' / 'infer.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main([str(a) for a in args])


def test_outputs_keep_the_full_name_and_existing_files(checkpoints, hand_images, tmp_path, capsys):
    """hand.jpg and hand.png of one folder both keep their results (``*/hand.jpg*``, ``*/hand.png*``); a
    second run into the same folder stops before the first image unless --overwrite, and never touches other
    files."""
    inputs = _snapshot(hand_images)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    common = [hand_images, '--config', TINY, '--checkpoint', checkpoints['good'], '--out', out]
    assert _infer_main(*common) == 0
    assert sorted(_snapshot(out)) == ['notes.txt', 'predictions/hand.jpg.json', 'predictions/hand.png.json',
                                      'visualizations/hand.jpg', 'visualizations/hand.png']
    jpg, png = (json.loads((out / 'predictions' / f'hand.{e}.json').read_text()) for e in ('jpg', 'png'))
    assert not np.allclose(jpg[0]['keypoints'], png[0]['keypoints'])  # two results
    assert all(cv2.imread(str(out / 'visualizations' / f'hand.{e}')) is not None for e in ('jpg', 'png'))
    assert _snapshot(hand_images) == inputs and (out / 'notes.txt').read_text() == 'mine'

    written = _snapshot(out)
    (out / 'predictions' / 'hand.png.json').unlink()  # one output left from an earlier run is enough to stop
    (out / 'visualizations' / 'hand.png').unlink()
    capsys.readouterr()
    assert _infer_main(*common) == 1
    assert capsys.readouterr().err.strip() == (
        f'error: {out}/visualizations/hand.jpg: exists (and 1 more outputs of these inputs); pass --overwrite '
        'to replace, or choose another --out')
    assert sorted(_snapshot(out)) == ['notes.txt', 'predictions/hand.jpg.json', 'visualizations/hand.jpg']
    assert _infer_main(*common, '--overwrite') == 0
    assert _snapshot(out).keys() == written.keys() and _snapshot(hand_images) == inputs


def test_existing_video_outputs_are_kept(checkpoints, hand_images, tmp_path, capsys):
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 5, (96, 96))
    for _ in range(2):
        writer.write(cv2.imread(str(hand_images / 'hand.jpg')))
    writer.release()
    out = tmp_path / 'frames'
    (out / 'visualizations').mkdir(parents=True)
    (out / 'visualizations' / 'clip.avi').write_bytes(b'an earlier video')
    common = [video, '--config', TINY, '--checkpoint', checkpoints['good'], '--out', out]
    assert _infer_main(*common) == 1
    assert 'frames/visualizations/clip.avi: exists; pass --overwrite' in capsys.readouterr().err
    assert sorted(_snapshot(out)) == ['visualizations/clip.avi']
    assert _infer_main(*common, '--overwrite') == 0
    assert (out / 'visualizations' / 'clip.avi').read_bytes() != b'an earlier video'
    assert len(json.loads((out / 'predictions' / 'clip.avi.json').read_text())) == 2


def _infer_tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'infer.py'), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_infer_tool_refuses_in_one_line_and_writes_nothing(checkpoints, hand_images, tmp_path):
    """The audit's cases through the CLI, two at a time: --out equal to the input folder (hand.png was
    replaced by the figure of hand.jpg), a pretraining and a width-32 checkpoint (exit 0 with predictions
    from random weights). Each is exit status 1, one line on stderr, and nothing written or replaced."""
    common = ['--config', TINY]
    runs = {
        'out is input': [hand_images, *common, '--checkpoint', checkpoints['good'], '--out', hand_images],
        'pretrain': [hand_images / 'hand.jpg', *common, '--checkpoint', checkpoints['pretrain'],
                     '--out', tmp_path / 'o_pretrain'],
        'width32': [hand_images / 'hand.jpg', *common, '--checkpoint', checkpoints['width32'],
                    '--out', tmp_path / 'o_width32'],
    }
    inputs = _snapshot(hand_images)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(runs, pool.map(lambda args: _infer_tool(*args), runs.values())))
    expected = {'out is input': f'{hand_images}: --out is the input folder',
                'pretrain': 'pretrain.pth: no head weights (keys under backbone., neck.)',
                'width32': 'width32.pth: size mismatch for backbone.conv1.weight: checkpoint (32, 3, 7, 7) '
                           'vs model (64, 3, 7, 7)'}
    for name, run in done.items():
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 1 and len(lines) == 1, (name, run.stderr[-2000:])
        assert lines[0].startswith('error: ') and expected[name] in lines[0], (name, lines[0])
    assert _snapshot(hand_images) == inputs
    assert not (tmp_path / 'o_pretrain').exists() and not (tmp_path / 'o_width32').exists()


def test_infer_tool_help_documents_names_and_overwrite():
    run = _infer_tool('--help')
    assert run.returncode == 0
    text = ' '.join(run.stdout.split())
    assert '--overwrite' in text and 'hand.jpg -> hand.jpg.json' in text and 'outside the input folder' in text


def test_a_heatmap_config_is_refused_in_one_line(tmp_path):
    """tools/infer.py with a 2-D heatmap config: one line saying a 2.5-D config is needed, nothing written."""
    heatmap = ROOT / 'configs' / 'freihand3d' / 'td-hm_res50-peclr_8xb64-100e_freihand3d-224x224.py'
    with pytest.raises(InputError, match='head HeatmapHead gives no 3-D joints'):
        init_hand25d_model(heatmap, None)
    img = tmp_path / 'in' / 'hand.jpg'
    img.parent.mkdir()
    cv2.imwrite(str(img), np.zeros((32, 32, 3), np.uint8))
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'infer.py'), str(img), '--config', str(heatmap),
                           '--checkpoint', str(tmp_path / 'any.pth'), '--out', str(tmp_path / 'out')],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.strip().count('\n') == 0, proc.stderr[-2000:]
    assert 'head HeatmapHead gives no 3-D joints' in proc.stderr and not (tmp_path / 'out').exists()
