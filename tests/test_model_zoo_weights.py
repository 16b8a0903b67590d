"""Model zoo `Weights` (what `mim download peclr-mm --config NAME` fetches), offline: every entry with Weights is
an official PeCLR release backbone whose archive the converter command named in the entry turns into the file
the entry's fine-tuning configs load. The archives are faked in the release's format (a tar.gz holding one
torchvision ResNet state_dict under ``{'state_dict': ...}``, github.com/dahiyaaneesh/peclr README)."""
from __future__ import annotations

import importlib.util
import io
import shlex
import tarfile
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
RELEASE = 'https://dataset.ait.ethz.ch/downloads/guSEovHBpR/'  # the official README's download folder
OFFICIAL = {  # entry -> (release archive, the .pth inside it, depth)
    'peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px': ('peclr_rn50.tar.gz', 'peclr_rn50_yt3dh_fh.pth', 50),
    'peclr_resnet152_1xb128-accum16-amp-100e_freihand-yt3dh-128px': ('peclr_rn152.tar.gz', 'peclr_rn152_yt3dh_fh.pth',
                                                                     152),
}


def _models_from_index() -> dict:
    """Every model of model-index.yml (as mim reads it: the index, then the metafiles it imports)."""
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    return {m['Name']: m for path in index['Import'] for m in yaml.safe_load((ROOT / path).read_text())['Models']}


def _converter():
    spec = importlib.util.spec_from_file_location('convert_official_peclr', ROOT / 'tools' / 'convert_official_peclr.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_release(folder: Path, archive: str, member: str, depth: int) -> Path:
    import torchvision

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save({'state_dict': getattr(torchvision.models, f'resnet{depth}')().state_dict()}, buf)
    info = tarfile.TarInfo(member)
    info.size = buf.tell()
    buf.seek(0)
    with tarfile.open(folder / archive, 'w:gz', compresslevel=0) as tar:  # gzip format, stored: fast
        tar.addfile(info, buf)
    return folder / archive


def test_only_the_official_backbones_have_weights_and_they_are_the_release_urls():
    models = _models_from_index()
    with_weights = {n: m for n, m in models.items() if m.get('Weights')}
    assert set(with_weights) == set(OFFICIAL)
    for name, m in with_weights.items():
        archive, _, depth = OFFICIAL[name]
        assert m['Weights'] == RELEASE + archive == m['Converted From']['Weights'], name
        assert m['Converted From']['Code'] == 'https://github.com/dahiyaaneesh/peclr', name
        assert 'not an mmengine checkpoint' in m['Weights Note'] and 'Conversion' in m['Weights Note'], name
        assert m['Metadata']['Backbone'] == f'ResNet-{depth}', name


@pytest.mark.parametrize('name', sorted(OFFICIAL))
def test_weights_entry_converts_with_its_command_into_what_its_finetuning_configs_load(name, tmp_path, monkeypatch,
                                                                                         capsys):
    from mmengine.config import Config
    from mmpose.models.backbones import ResNet

    m = _models_from_index()[name]
    archive, member, depth = OFFICIAL[name]
    # the config exists and is a ResNet of a depth the converter reads (torchvision ResNet-18/34/50/101/152)
    cfg = Config.fromfile(str(ROOT / m['Config']), import_custom_modules=False)
    assert cfg.model.backbone.type == 'ResNet' and cfg.model.backbone.depth == depth
    assert depth in _converter_depths()
    # the command as written in the entry, run on a fake of the archive `mim download` fetches
    python, script, *args = shlex.split(m['Metadata']['Conversion'])
    assert (python, script) == ('python', 'tools/convert_official_peclr.py'), m['Metadata']['Conversion']
    release, out = args
    assert release == m['Weights'].rsplit('/', 1)[1]
    assert m['Metadata']['Converted Weights'].split()[0] == out
    monkeypatch.chdir(tmp_path)
    _fake_release(tmp_path, archive, member, depth)
    assert _converter().main(args) == 0, capsys.readouterr().err
    line = capsys.readouterr().out
    assert line.startswith(f'wrote ResNet-{depth} backbone') and 'max |diff| vs torchvision 0.00e+00' in line, line
    saved = torch.load(tmp_path / out, weights_only=True)
    assert saved['meta'] == dict(source=member, depth=str(depth), converter='peclr_mm convert_official_peclr')
    # every -peclr ResNet fine-tuning config downstream loads exactly that file, and it loads
    loaders = []
    for downstream in m['Downstream']:
        ft = Config.fromfile(str(ROOT / _models_from_index()[downstream]['Config']), import_custom_modules=False)
        assert ft.model.backbone.depth == depth, downstream
        assert ft.model.backbone.init_cfg == dict(type='Pretrained', prefix='backbone.', checkpoint=out), downstream
        loaders.append(ft.model.backbone)
    backbone = ResNet(depth=depth, init_cfg=loaders[0].init_cfg)
    backbone.init_weights()
    expected = saved['state_dict']['backbone.layer4.0.conv1.weight']
    assert torch.equal(backbone.layer4[0].conv1.weight, expected)


def _converter_depths() -> set:
    from peclr_mm.selfsup.export import _RESNET_DEPTHS

    return set(_RESNET_DEPTHS.values())


def test_converter_reads_the_archive_as_downloaded_and_refuses_others_in_one_line(tmp_path, capsys):
    main = _converter().main
    two = tmp_path / 'two.tar.gz'
    with tarfile.open(two, 'w:gz') as tar:
        for member in ('a.pth', 'b/c.pth'):
            info = tarfile.TarInfo(member)
            tar.addfile(info, io.BytesIO(b''))
    broken = tmp_path / 'broken.tar.gz'
    broken.write_bytes(b'\x1f\x8b\x08 not gzip')
    notresnet = tmp_path / 'notresnet.tar.gz'
    buf = io.BytesIO()
    torch.save({'state_dict': {'encoder.weight': torch.zeros(2)}}, buf)
    info = tarfile.TarInfo('x/peclr.pth')
    info.size = buf.tell()
    buf.seek(0)
    with tarfile.open(notresnet, 'w:gz') as tar:
        tar.addfile(info, buf)
    cases = [(two, f'{two}: expected one .pth file in the archive, found 2 (a.pth, b/c.pth)'),
             (broken, f'{broken}: not a readable tar archive'),
             (notresnet, f'{notresnet}:x/peclr.pth: field "conv1.weight" missing'),
             (tmp_path / 'missing.tar.gz', f'{tmp_path / "missing.tar.gz"}: no such file')]
    for release, message in cases:
        assert main([str(release), str(tmp_path / 'out.pth'), '--no-check']) == 1
        out, err = capsys.readouterr()
        assert out == '' and len(err.strip().splitlines()) == 1 and err.startswith(f'error: {message}'), err
        assert not (tmp_path / 'out.pth').exists()
