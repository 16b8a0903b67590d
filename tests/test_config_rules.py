"""The config rules (issue 9, item 4): bases own one thing each, children change one thing, the input size
and the plugin import live in one place, and one variable sets a demo run's length."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from mmengine.config import Config
from peclr_lab.experiments.plan import schedule_options
from peclr_lab.experiments.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs'
BASES = sorted((CONFIGS / '_base_').glob('*.py'))
# configs/hand_det: mmdet's detector for the inference figure (not PeCLR or pose), with rules of its own below
DETECTORS = sorted((CONFIGS / 'hand_det').glob('*.py'))
LEAVES = sorted(p for p in CONFIGS.rglob('*.py') if '_base_' not in p.parts and p not in DETECTORS)
POSE = [p for p in LEAVES if p.name.startswith('td-')]
DEMO = sorted((CONFIGS / 'demo').glob('*.py'))
# the first transform of every pipeline: a config that writes one out copies a pipeline
PIPELINE_START = re.compile(r"dict\(type='(LoadImage|LoadHandImage|TrackedCrop)'")


def _name(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_custom_imports_only_in_the_runtime_bases():
    where = sorted(_name(p) for p in CONFIGS.rglob('*.py')
                   if p not in DETECTORS and re.search(r'^custom_imports\s*=', p.read_text(), re.M))
    assert where == ['configs/_base_/freihand3d_runtime.py', 'configs/_base_/peclr_runtime.py']
    for p in LEAVES:
        half = 'peclr_mm.pose' if p.name.startswith('td-') else 'peclr_mm.selfsup'
        assert Config.fromfile(str(p)).custom_imports == dict(imports=[half], allow_failed_imports=False), p.name


def test_pipelines_are_written_out_only_in_bases():
    copied = [_name(p) for p in LEAVES if PIPELINE_START.search(p.read_text())]
    assert copied == []
    assert all(PIPELINE_START.search(p.read_text()) for p in BASES if 'dataset' in p.name or '_128px' in p.name)


def _pipeline_name(node: ast.AST) -> str | None:
    """`train_pipeline` for `train_pipeline` and `_base_.train_pipeline` (or `_base_.train_pipeline_stage2`);
    None for anything else."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name if name and 'pipeline' in name else None


def test_children_change_a_transform_by_its_type_not_its_position():
    """`train_pipeline[3].input_size = ...` edits whatever a reordered base puts third: a config changes a
    transform by its type (`[dict(t, ...) if t.type == 'TopdownAffine3D' else t for t in _base_.train_pipeline]`)."""
    indexed = []
    for p in sorted(CONFIGS.rglob('*.py')):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Subscript) and _pipeline_name(node.value):
                index = node.slice.operand if isinstance(node.slice, ast.UnaryOp) else node.slice
                if isinstance(index, ast.Constant) and isinstance(index.value, int):
                    indexed.append(f'{_name(p)}:{node.lineno}')
    assert indexed == []


def _types_compared(comp: ast.ListComp) -> list[tuple[str, bool]]:
    """(type, changed) for each `t.type == 'X'` (changed) and `t.type != 'X'` (dropped) in a comprehension."""
    found = []
    for node in ast.walk(comp):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == 'type'
                and isinstance(node.ops[0], ast.Eq | ast.NotEq) and isinstance(node.comparators[0], ast.Constant)):
            found.append((node.comparators[0].value, isinstance(node.ops[0], ast.Eq)))
    return found


def test_a_transform_changed_by_type_is_in_the_base_pipeline():
    """A by-type change that matches nothing (a base renamed the transform) silently changes nothing, and one
    that matches twice changes both: every type a config compares is in the base's pipeline, a changed one once."""
    checked = 0
    for p in sorted(CONFIGS.rglob('*.py')):
        tree = ast.parse(p.read_text())
        comps = [(c, _pipeline_name(g.iter)) for c in ast.walk(tree) if isinstance(c, ast.ListComp)
                 for g in c.generators if isinstance(g.iter, ast.Attribute)
                 and isinstance(g.iter.value, ast.Name) and g.iter.value.id == '_base_']
        comps = [(c, name) for c, name in comps if name]
        if not comps:
            continue
        bases = [Config.fromfile(Config._get_cfg_path(b, str(p))[0], import_custom_modules=False)
                 for b in Config._get_base_files(str(p))]
        for comp, name in comps:
            pipeline = next(b[name] for b in bases if name in b)
            types = [t.type for t in pipeline]
            for type_, changed in _types_compared(comp):
                assert types.count(type_) == 1 if changed else type_ in types, (_name(p), name, type_, types)
                checked += 1
    assert checked >= 20


def test_no_base_is_named_after_a_backbone_it_does_not_fix():
    """The 2.5-D model base serves ResNet-18/50/152, ConvNeXt and ViT: its name says no depth."""
    named = [p.name for p in BASES if re.search(r'res(net)?\d+', p.name)]
    assert named == ['peclr-exact_resnet50.py', 'peclr_resnet50.py']
    for name in named:
        assert Config.fromfile(str(CONFIGS / '_base_' / name)).model.backbone.depth == 50


def test_the_input_size_has_one_home():
    """The codec is set in the dataset base only; the model base has no decoder; every pose config's crop,
    target encoder and head decoder agree."""
    assert 'decoder' not in Config.fromfile(str(CONFIGS / '_base_' / 'freihand3d_reg25d.py')).model.head
    sized = [_name(p) for p in CONFIGS.rglob('*.py') if re.search(r"input_size=\(\d+, \d+\)", p.read_text())]
    assert sorted(sized) == ['configs/_base_/freihand3d_dataset.py',
                     'configs/demo/td-reg25d_res18_1xb128-500it_synth-freihand3d-128x128.py',  # the GPU demo's
                     'configs/freihand3d/td-reg25d_res18_1xb8-1e_freihand3d-64x64.py']
    for p in POSE:
        cfg = Config.fromfile(str(p))
        size = tuple(cfg.codec.input_size)
        assert re.search(rf'-{size[0]}x{size[1]}\.py$', p.name), p.name
        if cfg.model.head.get('decoder') is not None:
            assert tuple(cfg.model.head.decoder.input_size) == size, p.name
        for split in ('train', 'val', 'test'):
            loader = cfg.get(f'{split}_dataloader')
            if not loader:
                continue
            for t in loader.dataset.pipeline:
                if t.type == 'TopdownAffine3D':
                    assert tuple(t.input_size) == size, (p.name, split)
                if t.type == 'GenerateTarget':
                    assert t.encoder == cfg.codec, (p.name, split)


def test_pretraining_views_have_one_size_per_config():
    """The release's views (ReleaseHandView: its jitter is in source pixels) or ours (TrackedCrop ...
    TrackedWarp, the crop-box shift scaled with the view)."""
    for p in LEAVES:
        if p.name.startswith('td-'):
            continue
        cfg = Config.fromfile(str(p))
        size = int(re.search(r'-(\d+)px\.py$', p.name).group(1))
        ds = cfg.train_dataloader.dataset
        for d in ds.get('datasets', [ds]):
            views = d.pipeline[1].transforms[0]
            assert d.pipeline[1].type == 'MultiViewTracked', p.name
            assert views[0].size == size, p.name
            if views[0].type == 'ReleaseHandView':
                assert 'accum16' in p.name and views[0].jitter == 15, p.name
                continue
            assert views[0].type == 'TrackedCrop', p.name
            assert views[1].type == 'TrackedRandomAffine', p.name
            if 'appearance' in p.name:  # SimCLR's views without geometric augmentation
                assert views[1].max_angle == 0 and views[1].shift == 0 and views[1].margin == 1.2, p.name
                continue
            assert tuple(views[1].shift) == (0, 15 * size / 128), p.name


@pytest.mark.parametrize('path', DEMO, ids=lambda p: p.stem)
def test_one_variable_sets_a_demo_run_length(path):
    """The name says the length; the cosine runs to train_cfg.max_iters; the metafile agrees; the full
    preset (the gpu preset for the GPU demo's 128 px configs) is the configs' own length, so its schedule
    options change nothing, except that the full CPU preset fine-tunes for 200 of the 500 iterations
    (docs/demo.md)."""
    cfg = Config.fromfile(str(path))
    iters = int(re.search(r'-(\d+)it_', path.name).group(1))
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == iters
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.begin == 0 and warmup.end < iters
    assert cosine.type == 'CosineAnnealingLR' and cosine.begin == warmup.end
    assert 'end' not in cosine and 'T_max' not in cosine
    pretrain = not path.name.startswith('td-')
    full = PRESETS['gpu' if re.search(r'-128(px|x128)\.py$', path.name) else 'full']
    expected = full.pretrain_iters if pretrain else full.finetune_iters
    if not pretrain and full is PRESETS['full']:
        expected = 500  # the full CPU preset fine-tunes 200 of them, within its 25 minutes
    assert iters == expected
    opts = dict(o.split('=', 1) for o in schedule_options(path, iters, 50))
    assert opts['param_scheduler.0.end'] == str(warmup.end) and opts['param_scheduler.1.end'] == str(iters)
    metafile = yaml.safe_load((CONFIGS / 'demo' / 'metafile.yml').read_text())['Models']
    entry = next(m for m in metafile if m['Name'] == path.stem)
    assert entry['Metadata']['Iterations'] == iters


def test_demo_pretraining_derives_from_our_variant_not_the_smoke_test():
    text = (CONFIGS / 'demo' / 'peclr_resnet18-w32_1xb64-400it_synth-freihand-64px.py').read_text()
    assert "_base_ = ['../peclr/peclr-exact_resnet50_8xb128-lars-scratch-100e_freihand-128px.py']" in text
    cfg = Config.fromfile(str(CONFIGS / 'demo' / 'peclr_resnet18-w32_1xb64-400it_synth-freihand-64px.py'))
    assert cfg.model.type == 'PeCLR' and cfg.model.undo == ('rotate', 'translate')  # the paper's, inherited
    assert cfg.optim_wrapper.constructor == 'LARSByTypeConstructor' and cfg.optim_wrapper.accumulative_counts == 1


def test_one_variable_sets_the_data_root(monkeypatch):
    """FREIHAND_ROOT (and YT3DH_ROOT) move every dataloader of the FreiHAND and the pretraining configs at once;
    unset, the documented defaults."""
    finetune = CONFIGS / 'freihand3d' / 'td-reg25d_res50-peclr_8xb64-100e_freihand3d-224x224.py'
    pretrain = CONFIGS / 'peclr' / 'peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py'

    def roots():
        ft, pt = Config.fromfile(str(finetune)), Config.fromfile(str(pretrain))
        return ([ft[f'{s}_dataloader'].dataset.data_root for s in ('train', 'val', 'test')],
                [d.data_root for d in pt.train_dataloader.dataset.datasets])

    monkeypatch.delenv('FREIHAND_ROOT', raising=False)
    monkeypatch.delenv('YT3DH_ROOT', raising=False)
    assert roots() == (['data/freihand/'] * 3, ['data/freihand/', 'data/youtube_3d_hands/'])
    monkeypatch.setenv('FREIHAND_ROOT', '/mnt/fh')
    monkeypatch.setenv('YT3DH_ROOT', '/mnt/yt')
    assert roots() == (['/mnt/fh'] * 3, ['/mnt/fh', '/mnt/yt'])


@pytest.mark.parametrize('path', DETECTORS, ids=lambda p: p.stem)
def test_detector_configs_are_mmdets_with_checkpoint_safety(path):
    """mmdet's scope and pipelines (the inherited mmpose file tags them mmpose), and peclr_mm.pose imported
    only so that the checkpoints upstream's train.py writes load under torch's weights_only loading."""
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports == dict(imports=['peclr_mm.pose'], allow_failed_imports=False)
    assert {t._scope_ for t in cfg.train_pipeline + cfg.test_pipeline} == {'mmdet'}
    iters = int(re.search(r'-(\d+)it_', path.name).group(1))
    assert cfg.train_cfg.max_iters == iters
