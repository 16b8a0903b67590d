"""The pinned OpenMMLab stack imports, matches requirements/stack.txt, and peclr_mm's halves stay separate."""
from __future__ import annotations

import importlib.metadata as md
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements/stack.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_stack_imports_with_compiled_ops():
    import mmcv.ops  # noqa: F401  (compiled extension: mmcv built from sdist with ops)
    import mmdet.utils  # noqa: F401
    import mmpose.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    from mmcv.utils import ext_loader

    ext = ext_loader.load_ext("_ext", ["nms"])
    assert hasattr(ext, "nms")


def test_xtcocotools_extension_loads_with_numpy2():
    from xtcocotools import mask

    assert int(np.__version__.split(".")[0]) == 2
    rle = mask.encode(np.asfortranarray(np.eye(4, dtype=np.uint8)))
    assert mask.area(rle) == 4


@pytest.mark.parametrize("name", ["torch", "torchvision", "mmengine", "mmcv", "mmpretrain", "mmpose",
                                  "mmdet", "xtcocotools", "numpy"])
def test_installed_versions_match_pins(name):
    assert md.version(name).split("+")[0] == _pins()[name]


def _modules_after(stmt: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{stmt}; import sys; print(' '.join(sys.modules))"],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return {m.split(".")[0] for m in out.split()}


def test_import_peclr_mm_is_light():
    mods = _modules_after("import peclr_mm, peclr_mm.geometry")
    assert not mods & {"torch", "mmpose", "mmpretrain", "mmdet", "mmengine"}


def test_halves_import_only_their_library():
    assert "mmpose" not in _modules_after("import peclr_mm.selfsup")
    assert "mmpretrain" not in _modules_after("import peclr_mm.pose")


def test_configs_import_their_half():
    from mmengine.config import Config

    configs = [p for p in (ROOT / "configs").rglob("*.py") if "_base_" not in p.parts]
    assert configs, "no configs found"
    for path in configs:
        cfg = Config.fromfile(str(path), import_custom_modules=False)
        imports = cfg.get("custom_imports", {}).get("imports", [])
        scope = cfg.get("default_scope")
        expected = {"mmpretrain": "peclr_mm.selfsup", "mmpose": "peclr_mm.pose"}[scope]
        assert expected in imports, f"{path.relative_to(ROOT)}: custom_imports lacks {expected}"


def test_clones_sharing_the_cached_env_stay_independent(tmp_path):
    """Two clones set up against one cached env; deleting the second leaves the first importing its own
    peclr_mm with plain `.venv/bin/python`, from outside its root and without PYTHONPATH."""
    import os
    import shutil

    marker = (ROOT / ".venv" / ".peclr_mm_env").read_text().split()
    cache = Path(marker[0]).parents[1]  # <cache>/envs/<env>
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PECLR_MM_CACHE=str(cache), PECLR_MM_PYTHON=sys._base_executable)
    clones = [tmp_path / "a", tmp_path / "b"]
    for clone in clones:
        for part in ("tools", "requirements", "peclr_mm"):
            shutil.copytree(ROOT / part, clone / part, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(["bash", str(clone / "tools" / "setup_env.sh")], check=True, env=env, capture_output=True,
                       timeout=300)
    shutil.rmtree(clones[1])
    for clone in (clones[0], ROOT):
        out = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c",
                              "import peclr_mm, peclr_mm.selfsup, mmpretrain; print(peclr_mm.__file__)"],
                             env=env, cwd="/", capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert Path(out.stdout.strip()) == clone / "peclr_mm" / "__init__.py"
    assert (clones[0] / ".venv" / "lib").is_dir() and not (clones[0] / ".venv").is_symlink()
