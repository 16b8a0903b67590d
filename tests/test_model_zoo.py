"""Model zoo and mim conventions: model-index.yml + metafiles, config names, the `peclr_mm::` config prefix,
and the configs shipped in the wheel (peclr_mm/.mim)."""
from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs'
# {algorithm}_{backbone}_{N}xb{B}-{schedule}_{data}-{size}: schedule in epochs (100e) or iterations (600it),
# size as 128px (pretraining views) or 224x224 (mmpose input)
NAME = re.compile(r'^[a-z0-9-]+_[a-z0-9-]+_\d+xb\d+(-[a-z]+\d*)*-\d+(e|it)_[a-z0-9-]+-\d+(px|x\d+)$')
REPORTED = {  # official fine-tuned models, README of github.com/dahiyaaneesh/peclr (FreiHAND Codalab)
    'td-reg25d_res50-peclr_8xb64-100e_freihand3d-224x224': {'PA-EPE (cm)': 0.71, 'EPE (cm)': 4.71},
    'td-reg25d_res152-peclr_8xb64-100e_freihand3d-224x224': {'PA-EPE (cm)': 0.66, 'EPE (cm)': 4.56},
}


def _metafiles():
    return sorted(CONFIGS.rglob('metafile.yml'))


def _models():
    out = []
    for path in _metafiles():
        for model in yaml.safe_load(path.read_text())['Models']:
            out.append((path, model))
    return out


def _collections():
    return {c['Name'] for path in _metafiles() for c in yaml.safe_load(path.read_text()).get('Collections') or []}


def _configs():
    return sorted(p for p in CONFIGS.rglob('*.py') if '_base_' not in p.relative_to(CONFIGS).parts)


def test_model_index_imports_every_metafile():
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    imported = index['Import']
    assert len(imported) == len(set(imported))
    assert {ROOT / p for p in imported} == set(_metafiles())


def test_every_config_has_exactly_one_entry_and_every_entry_a_config():
    counts = Counter(m['Config'] for _, m in _models())
    assert [c for c, n in counts.items() if n > 1] == []
    for config in counts:
        assert (ROOT / config).is_file(), f'metafile Config {config} does not exist'
    listed = {ROOT / c for c in counts}
    missing = [str(p.relative_to(ROOT)) for p in _configs() if p not in listed]
    assert missing == [], f'configs without a metafile entry: {missing}'


def test_entries_have_the_required_fields():
    collections = _collections()
    names = {m['Name'] for _, m in _models()}
    assert len(names) == len(_models())
    for path, m in _models():
        where = f'{path.relative_to(ROOT)}: {m.get("Name")}'
        for key in ('Name', 'Config', 'In Collection', 'Metadata', 'Results'):
            assert key in m, f'{where}: no {key}'
        assert m['Name'] == Path(m['Config']).stem, where
        assert m['Config'].startswith(f'configs/{path.parent.name}/'), where  # next to its metafile
        assert m['In Collection'] in collections, where
        md = m['Metadata']
        assert md.get('Architecture') and md.get('Training Data') and md.get('Backbone'), where
        if m['Results'] is None:  # nothing measured here: say why
            assert isinstance(m.get('Results Note'), str) and len(m['Results Note']) > 20, where
        else:  # measured with this repository
            assert md.get('Reproduced') is True and md.get('Command'), where
            for r in m['Results']:
                assert set(r) == {'Task', 'Dataset', 'Metrics'} and r['Metrics'], where
        for r in md.get('Reported Results', []):
            assert r['Reproduced'] is False and 'Not reproduced here' in r['Source'], where
            assert {'Task', 'Dataset', 'Metrics'} <= set(r), where
        if 'Weights' in m:
            assert m['Weights'].startswith('https://'), where
        if 'Converted From' in m:
            assert m['Converted From']['Weights'].startswith('https://') and m['Converted From']['Code'], where
        for other in m.get('Downstream', []) + ([md['Upstream']] if 'Upstream' in md else []):
            assert other in names, f'{where}: unknown model {other}'


def test_modelindex_schema_check_passes():
    modelindex = pytest.importorskip('modelindex')
    index = modelindex.load(str(ROOT / 'model-index.yml'))
    assert index.check(silent=True) == []
    assert len(index.models) == len(_models())


def test_paper_numbers_are_marked_as_reported_not_reproduced():
    models = {m['Name']: m for _, m in _models()}
    for name, metrics in REPORTED.items():
        m = models[name]
        assert m['Results'] is None  # never presented as our result
        (reported,) = m['Metadata']['Reported Results']
        assert reported['Dataset'] == 'FreiHAND' and reported['Reproduced'] is False
        assert 'dahiyaaneesh/peclr' in reported['Source'] and 'ICCV 2021' in reported['Source']
        for key, value in metrics.items():
            assert reported['Metrics'][key] == value
    # only those two entries carry reported numbers
    assert {n for n, m in models.items() if m['Metadata'].get('Reported Results')} == set(REPORTED)
    # nothing is presented as measured here (the demo's measurements stay in docs/demo.md)
    assert all(m['Results'] is None for m in models.values())
    # the official pretrained weights are the ones the converter reads
    for depth in (50, 152):
        m = models[f'peclr_resnet{depth}_1xb128-accum16-amp-100e_freihand-yt3dh-128px']
        assert m['Converted From']['Weights'].endswith(f'peclr_rn{depth}.tar.gz')
        assert f'tools/convert_official_peclr.py peclr_rn{depth}.tar.gz' in m['Metadata']['Conversion']


def test_model_zoo_doc_lists_every_entry_with_its_numbers():
    doc = (ROOT / 'docs' / 'model_zoo.md').read_text()
    rows = {line.split('|')[1].strip(' `'): line for line in doc.splitlines() if line.startswith('| `')}
    for _, m in _models():
        row = rows.get(m['Name'])
        assert row is not None, f'docs/model_zoo.md has no row for {m["Name"]}'
        for r in m['Metadata'].get('Reported Results', []):
            assert 'reported, not reproduced' in row and f"PA-EPE {r['Metrics']['PA-EPE (cm)']} cm" in row
        for r in m['Results'] or []:
            assert f"PA-EPE {r['Metrics']['PA-EPE (mm)']:.2f} mm" in row and 'measured here' in row
        if not m['Results'] and not m['Metadata'].get('Reported Results'):
            assert row.rstrip().endswith('| — |'), row
    assert len(rows) == len(_models())


def test_config_names_follow_the_openmmlab_convention():
    bad = [p.name for p in _configs() if not NAME.match(p.stem)]
    assert bad == []
    assert not list(CONFIGS.rglob('*tiny-cpu*'))


def _child(tmp_path: Path, base: str, body: str = '') -> Path:
    path = tmp_path / 'my_config.py'
    path.write_text(f"_base_ = ['peclr_mm::{base}']\n{body}")
    return path


def test_pkg_prefix_resolves_from_a_user_directory(tmp_path, monkeypatch):
    from mmengine.config import Config

    import peclr_mm.mim  # noqa: F401  (what the .pth of setup_env.sh / the wheel does at start-up)

    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(str(_child(tmp_path, 'peclr/peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py',
                                     'train_dataloader = dict(batch_size=64)\n')))
    assert cfg.model.type == 'PeCLR' and cfg.model.backbone.depth == 50
    assert cfg.train_dataloader.batch_size == 64  # the child's override
    assert cfg.optim_wrapper.constructor == 'ReleaseWeightDecayConstructor'  # from the base's own _base_ chain
    assert cfg.default_scope == 'mmpretrain' and '_scope_' not in cfg.model  # no `peclr_mm` registry scope
    cfg = Config.fromfile(str(_child(tmp_path, 'freihand3d/td-reg25d_res50-peclr_8xb64-100e_freihand3d-224x224.py')))
    assert cfg.default_scope == 'mmpose' and cfg.model.head.type == 'Regression25DHead'
    with pytest.raises(FileNotFoundError, match='no such config'):
        Config.fromfile(str(_child(tmp_path, 'peclr/nope.py')))


def test_pkg_prefix_in_a_fresh_interpreter_builds_the_model(tmp_path):
    """As a user would: a new interpreter of the project's env (no PYTHONPATH, no import of peclr_mm first),
    cwd outside the clone, upstream-style build from mmengine's root registry in the config's scope."""
    import os

    _child(tmp_path, 'peclr/peclr_resnet18_1xb4-4it_freihand-64px.py', 'model = dict(head=dict(temperature=0.2))\n')
    code = ("import sys\n"
            "assert 'peclr_mm.mim' in sys.modules, 'peclr_mm.mim not imported at start-up: run make install'\n"
            "from mmengine.config import Config\n"
            "from mmengine.registry import MODELS, init_default_scope\n"
            "cfg = Config.fromfile('my_config.py')\n"
            "init_default_scope(cfg.default_scope)\n"
            "model = MODELS.build(cfg.model)\n"
            "from mmengine.hub import get_config\n"
            "ft = get_config('peclr_mm::freihand3d/td-reg25d_res18_1xb8-1e_freihand3d-64x64.py')\n"
            "print(type(model).__name__, model.head.temperature, ft.model.backbone.depth)\n")
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-3:] == ['PeCLR', '0.2', '18']


def test_clone_mim_links_to_the_repository():
    mim = ROOT / 'peclr_mm' / '.mim'
    assert (mim / 'configs').resolve() == CONFIGS, 'run make install (tools/setup_env.sh links peclr_mm/.mim)'
    assert (mim / 'model-index.yml').resolve() == ROOT / 'model-index.yml'


@pytest.mark.slow
def test_wheel_ships_configs_model_index_and_pth(tmp_path):
    """`pip wheel .` (what `pip install .` builds) holds peclr_mm/.mim/{configs,model-index.yml,tools} and the
    .pth."""
    import shutil

    src = tmp_path / 'src'
    src.mkdir()
    for name in ('pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml'):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim')
    shutil.copytree(CONFIGS, src / 'configs', ignore=ignore)
    shutil.copytree(ROOT / 'peclr_mm', src / 'peclr_mm', ignore=ignore)
    shutil.copytree(ROOT / 'tools', src / 'tools', ignore=ignore)
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index',
                           '-q', '-w', str(tmp_path / 'dist'), str(src)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and 'No module named pip' in proc.stderr:
        pytest.skip('no pip in this interpreter')
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / 'dist').glob('peclr_mm-*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    assert 'peclr_mm-mim.pth' in names and 'peclr_mm/mim.py' in names
    assert zipfile.ZipFile(wheel).read('peclr_mm-mim.pth').decode().strip() == 'import peclr_mm.mim'
    assert 'peclr_mm/.mim/model-index.yml' in names
    shipped = {n[len('peclr_mm/.mim/'):] for n in names if n.startswith('peclr_mm/.mim/configs/')}
    expected = {str(p.relative_to(ROOT)) for p in CONFIGS.rglob('*') if p.is_file() and p.suffix in ('.py', '.yml')
                and '__pycache__' not in p.parts}
    assert shipped == expected
    tools = {n[len('peclr_mm/.mim/'):] for n in names if n.startswith('peclr_mm/.mim/tools/')}
    assert tools == {str(p.relative_to(ROOT)) for p in (ROOT / 'tools').iterdir() if p.is_file()}
