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
        # mmdet: the inference figure's hand detector (configs/hand_det), which needs peclr_mm only for
        # checkpoint safety (peclr_mm.pose, the half that runs the detector)
        expected = {"mmpretrain": "peclr_mm.selfsup", "mmpose": "peclr_mm.pose", "mmdet": "peclr_mm.pose"}[scope]
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


# setup_env.sh against a stand-in of the cached env: a small venv with one package, under a temporary cache, so
# these tests build nothing and never touch the real cache (a race there would write into the shared env).

def _stand_in_cache(tmp: Path) -> Path:
    """``tmp/cache`` holding a complete env of the name setup_env.sh computes (stack.txt, Python, RECIPE)."""
    import hashlib

    script = (ROOT / "tools" / "setup_env.sh").read_text()
    recipe = re.search(r"^RECIPE=(\d+)$", script, re.M).group(1)
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    digest = hashlib.sha256((ROOT / "requirements/stack.txt").read_bytes() + f"py{ver} recipe{recipe}\n".encode())
    name = f"py{ver}-{digest.hexdigest()[:16]}"
    # the formula above is the script's: this clone's .venv, made by the script, names the same env
    assert name == Path((ROOT / ".venv" / ".peclr_mm_env").read_text().split()[0]).name, "run `make install`"
    env = tmp / "cache" / "envs" / name
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    site = env / "lib" / f"python{ver}" / "site-packages"
    (site / "standin_pkg").mkdir()
    (site / "standin_pkg" / "__init__.py").write_text("")
    (env / ".peclr_mm_complete").write_text("stand-in\n")
    return tmp / "cache"


def _clone(path: Path) -> Path:
    import shutil

    for part in ("tools", "requirements", "peclr_mm"):
        shutil.copytree(ROOT / part, path / part, ignore=shutil.ignore_patterns("__pycache__", ".mim"))
    return path


def _setup(clone: Path, cache: Path) -> subprocess.Popen:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PECLR_MM_EXTRAS")}
    env.update(PECLR_MM_CACHE=str(cache), PECLR_MM_PYTHON=sys._base_executable)
    return subprocess.Popen(["bash", str(clone / "tools" / "setup_env.sh")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _check_venv(clone: Path, cache: Path) -> None:
    """.venv sees the stand-in env and this clone; no leftovers; nothing was linked inside the shared env."""
    out = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c",
                          "import os, standin_pkg; print(os.path.realpath(standin_pkg.__file__))"],
                         capture_output=True, text=True, cwd="/", timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert str(cache) in out.stdout
    assert not [p.name for p in clone.iterdir() if p.name.startswith(".venv.")]
    site = next((cache / "envs").glob("*/lib/python*/site-packages"))
    assert sorted(p.name for p in (site / "standin_pkg").iterdir()) == ["__init__.py"]


def test_two_setups_at_once_in_one_clone_both_succeed(tmp_path):
    """Two `make install` at once in one clone, with no .venv and with an outdated one: the second waits for
    the first (the .venv is built under the lock), both exit 0, .venv works."""
    cache = _stand_in_cache(tmp_path)
    clone = _clone(tmp_path / "clone")
    for round_ in ("no .venv", "outdated .venv"):
        runs = [_setup(clone, cache) for _ in range(2)]
        logs = [run.communicate(timeout=300)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], f"{round_}:\n" + "\n".join(logs)
        _check_venv(clone, cache)
        (clone / ".venv" / ".peclr_mm_env").write_text("outdated\n")


def test_deleting_the_cache_mid_build_keeps_the_lock(tmp_path):
    """While a build holds the lock, a run waits before touching the env or .venv; deleting the cache folder then
    does not remove the lock file, so a run started afterwards waits too."""
    import fcntl
    import shutil
    import time

    cache = _stand_in_cache(tmp_path)
    clone = _clone(tmp_path / "clone")
    with open(f"{cache}.lock", "w") as lock:  # a build in progress
        fcntl.flock(lock, fcntl.LOCK_EX)
        first = _setup(clone, cache)
        time.sleep(3)
        assert first.poll() is None and not (clone / ".venv").exists()
        shutil.rmtree(cache)  # someone deletes the cache during the build
        assert Path(f"{cache}.lock").exists()
        _stand_in_cache(tmp_path)  # the build makes it again
        second = _setup(clone, cache)
        time.sleep(3)
        assert second.poll() is None and not (clone / ".venv").exists()
    logs = [run.communicate(timeout=300)[0] for run in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], "\n".join(logs)
    _check_venv(clone, cache)
