"""Every mmengine checkpoint scheme loads with ``weights_only=True``; remote files come from torch's hub cache.

No test touches the network: ``torch.hub.download_url_to_file`` fails (offline) or copies a local file.
"""
from __future__ import annotations

import io
import os
import shutil
import sys
import types
import urllib.error

import pytest
import torch
import torchvision
from mmengine.runner import CheckpointLoader
from mmengine.runner import checkpoint as mc

from peclr_mm.checkpoint import (
    OFFLINE_OPTION,
    CheckpointUnavailableError,
    UnsafeCheckpointError,
    register_safe_globals,
)

register_safe_globals()

R18_URL = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
R50_URL = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url


def _offline(url, dst, *args, **kwargs):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache in ``tmp_path`` (``$TORCH_HOME`` and ``torch.hub.set_dir``); no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("MMENGINE_HOME", str(tmp_path / "mmengine"))
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)  # restored after the test
    torch.hub.set_dir(str(tmp_path / "torch" / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _offline)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def good_r18(tmp_path_factory):
    """torchvision's resnet18 state_dict (random weights, non-trivial BN statistics) saved with torch.save."""
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    for k, v in sd.items():
        if k.endswith(("running_mean", "running_var")):
            v.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("good") / os.path.basename(R18_URL)
    torch.save(sd, str(path))
    return path, sd


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _poison(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"conv1.weight": torch.zeros(1), "x": _Payload(marker)}, str(path))


def _basename(url):
    return url.rsplit("/", 1)[-1]


REMOTE = [
    ("torchvision://resnet50", _basename(R50_URL)),
    ("modelzoo://resnet50", _basename(R50_URL)),
    ("https://example.invalid/models/x.pth", "x.pth"),
    ("http://example.invalid/x.pth?raw=1", "x.pth"),
    ("open-mmlab://detectron/resnet50_caffe", _basename(mc.get_external_models()["detectron/resnet50_caffe"])),
    ("open-mmlab://resnet50_caffe", _basename(mc.get_external_models()["detectron/resnet50_caffe"])),
    ("mmcls://resnet50", _basename(mc.get_mmcls_models()["resnet50"])),
]


@pytest.mark.parametrize("name,file", REMOTE)
def test_poisoned_cache_file_is_refused_and_never_runs(hub, tmp_path, name, file):
    marker = tmp_path / "pwned"
    _poison(hub / file, marker)
    with pytest.raises(UnsafeCheckpointError) as info:
        CheckpointLoader.load_checkpoint(name, map_location="cpu")
    msg = str(info.value)
    assert msg.startswith(f"{hub / file}: refused by torch safe loading") and "\n" not in msg
    assert not marker.exists()


def test_every_mmengine_scheme_is_routed():
    loaders = {p: f"{f.__module__}.{f.__name__}" for p, f in CheckpointLoader._schemes.items()}
    assert all(v.startswith("peclr_mm.checkpoint.") for v in loaders.values()), loaders
    assert {"", "torchvision://", "https://", "http://", "open-mmlab://", "openmmlab://"} <= set(loaders)


def test_good_cache_file_loads(hub, good_r18):
    path, sd = good_r18
    hub.mkdir(parents=True)
    shutil.copy(path, hub / path.name)
    out = CheckpointLoader.load_checkpoint("torchvision://resnet18", map_location="cpu")
    assert list(out) == list(sd) and all(torch.equal(out[k], sd[k]) for k in sd)


def test_offline_without_cache_file_fails_in_one_line(hub):
    with pytest.raises(CheckpointUnavailableError) as info:
        CheckpointLoader.load_checkpoint("torchvision://resnet50", map_location="cpu")
    msg = str(info.value)
    assert "\n" not in msg and isinstance(info.value, OSError)
    assert msg.startswith(f"torchvision://resnet50: cannot download {R50_URL} (")
    assert "Temporary failure in name resolution" in msg
    assert str(hub / "resnet50-0676ba61.pth") in msg and OFFLINE_OPTION in msg
    assert len(msg) - len(str(hub / "resnet50-0676ba61.pth")) < 240  # ~290 with the default cache path
    assert not any(hub.iterdir())


def test_download_lands_in_the_cache_and_loads(hub, good_r18, monkeypatch):
    path, sd = good_r18
    calls = []

    def copy(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        shutil.copy(path, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", copy)
    for _ in range(2):  # the second load reads the cache
        out = CheckpointLoader.load_checkpoint("torchvision://resnet18", map_location="cpu")
        assert all(torch.equal(out[k], sd[k]) for k in sd)
    sha_prefix = path.stem.rsplit("-", 1)[1]  # torchvision's file names end in their SHA-256 prefix: checked
    assert calls == [(R18_URL, str(hub / path.name), sha_prefix)]
    assert sorted(p.name for p in hub.iterdir()) == [path.name]


def test_unknown_model_name_is_one_line(hub):
    with pytest.raises(ValueError, match=r"^torchvision://resnet5O: unknown model name 'resnet5O' \(closest: "):
        CheckpointLoader.load_checkpoint("torchvision://resnet5O")


def _poisoned_bytes(marker):
    buf = io.BytesIO()
    torch.save({"x": _Payload(marker)}, buf)
    return buf.getvalue()


def test_s3_and_pavi_are_loaded_weights_only(tmp_path, monkeypatch):
    import mmengine.fileio

    marker = tmp_path / "pwned"
    data = _poisoned_bytes(marker)
    backend = types.SimpleNamespace(get=lambda filename: data)
    monkeypatch.setattr(mmengine.fileio, "get_file_backend", lambda *a, **k: backend)
    with pytest.raises(UnsafeCheckpointError, match=r"^s3://bucket/evil\.pth: refused"):
        CheckpointLoader.load_checkpoint("s3://bucket/evil.pth")

    def download(dst):
        with open(dst, "wb") as f:
            f.write(data)

    model = types.SimpleNamespace(name="evil.pth", download=download)
    pavi = types.SimpleNamespace(modelcloud=types.SimpleNamespace(get=lambda path: model))
    monkeypatch.setitem(sys.modules, "pavi", pavi)
    with pytest.raises(UnsafeCheckpointError, match=r"^pavi://team/evil\.pth: refused"):
        CheckpointLoader.load_checkpoint("pavi://team/evil.pth")
    assert not marker.exists()


def test_pretrained_resnet_from_torchvision_scheme(hub, good_r18):
    from mmpretrain.registry import MODELS

    import peclr_mm.selfsup  # noqa: F401  (the scheme loaders are registered on import)

    path, sd = good_r18
    hub.mkdir(parents=True)
    shutil.copy(path, hub / path.name)
    backbone = MODELS.build(dict(type="mmpretrain.ResNet", depth=18,
                                 init_cfg=dict(type="Pretrained", checkpoint="torchvision://resnet18")))
    backbone.init_weights()
    own = backbone.state_dict()
    assert set(own) == {k for k in sd if not k.startswith("fc.")}
    assert all(torch.equal(v, sd[k]) for k, v in own.items())
