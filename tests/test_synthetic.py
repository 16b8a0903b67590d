"""Synthetic hands in FreiHAND's layout: self-consistent annotations, realistic anatomy and cameras,
determinism, atomic writes, the CLI, and that the FreiHAND dataset classes read the result."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from peclr_lab.synthetic import (
    FINGERS,
    VERSIONS,
    forward_kinematics,
    is_complete,
    make_synthetic_freihand,
    render_sample,
    sample_articulation,
    sample_shape,
)
from peclr_lab.synthetic import writer as writer_mod
from peclr_lab.synthetic.sample import rng_for

from peclr_mm.geometry import NUM_JOINTS, SCALE_BONE, SKELETON, bone_length, project

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, N_EVAL, SIZE, SEED = 6, 3, 224, 0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_synthetic_freihand(tmp_path_factory.mktemp("synth") / "fh", N_TRAIN, N_EVAL, size=SIZE,
                                   seed=SEED, progress=False)


def _load(root: Path, split: str, field: str) -> np.ndarray:
    return np.asarray(json.loads((root / f"{split}_{field}.json").read_text()), dtype=np.float64)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_matches_freihand(dataset):
    assert is_complete(dataset)
    names = sorted(p.name for p in dataset.iterdir())
    assert names == [".peclr_mm_synthetic.json", "evaluation", "evaluation_K.json", "evaluation_scale.json", "evaluation_verts.json",
                     "evaluation_xyz.json", "training", "training_K.json", "training_scale.json",
                     "training_xyz.json"]
    train_rgb = sorted(p.name for p in (dataset / "training" / "rgb").iterdir())
    assert train_rgb == [f"{i:08d}.jpg" for i in range(len(VERSIONS) * N_TRAIN)]
    assert sorted(p.name for p in (dataset / "training" / "mask").iterdir()) == [f"{i:08d}.jpg" for i in range(N_TRAIN)]
    assert sorted(p.name for p in (dataset / "evaluation" / "rgb").iterdir()) == [f"{i:08d}.jpg" for i in range(N_EVAL)]
    for split, n in (("training", N_TRAIN), ("evaluation", N_EVAL)):
        # plain nested lists, as FreiHAND's json
        raw = json.loads((dataset / f"{split}_xyz.json").read_text())
        assert isinstance(raw, list) and len(raw) == n and len(raw[0]) == NUM_JOINTS and len(raw[0][0]) == 3
        assert _load(dataset, split, "K").shape == (n, 3, 3)
        assert _load(dataset, split, "scale").shape == (n,)
    assert _load(dataset, "evaluation", "verts").shape == (N_EVAL, 778, 3)
    img = cv2.imread(str(dataset / "training" / "rgb" / "00000000.jpg"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8


@pytest.mark.parametrize("split,n", [("training", N_TRAIN), ("evaluation", N_EVAL)])
def test_annotations_self_consistent(dataset, split, n):
    xyz, K, scale = (_load(dataset, split, f) for f in ("xyz", "K", "scale"))
    np.testing.assert_allclose(scale, np.linalg.norm(xyz[:, SCALE_BONE[1]] - xyz[:, SCALE_BONE[0]], axis=-1),
                               atol=1e-8)
    assert np.all((scale > 0.02) & (scale < 0.04))              # FreiHAND's training_scale range
    assert np.all((xyz[:, 0, 2] >= 0.4) & (xyz[:, 0, 2] <= 0.9))  # wrist depth
    assert np.all((xyz[..., 2] > 0.25) & (xyz[..., 2] < 1.1))
    # FreiHAND-like intrinsics: square pixels, focal 480-720 px, principal point at the centre +- 3 px
    assert np.all(K[:, 0, 1] == 0) and np.all(K[:, 1, 0] == 0) and np.all(K[:, 2] == [0, 0, 1])
    np.testing.assert_array_equal(K[:, 0, 0], K[:, 1, 1])
    assert np.all((K[:, 0, 0] >= 480) & (K[:, 0, 0] <= 720))
    assert np.all(np.abs(K[:, :2, 2] - SIZE / 2) <= 3.0)
    uv = project(xyz, K)
    assert np.all((uv >= 0) & (uv <= SIZE - 1))
    # the hand is large in the crop, like FreiHAND's hand-centred crops
    extent = (uv.max(1) - uv.min(1)).max(1)
    assert np.all(extent > 0.3 * SIZE)


def test_joints_lie_on_the_rendered_hand(dataset):
    xyz, K = _load(dataset, "training", "xyz"), _load(dataset, "training", "K")
    for i in range(N_TRAIN):
        sample = render_sample(SEED, "training", i, SIZE)
        np.testing.assert_allclose(sample.xyz, xyz[i], atol=1e-8)   # files hold what was rendered
        uv = np.round(project(xyz[i], K[i])).astype(int)
        for v, (image, mask, background) in enumerate(zip(sample.images, sample.masks, sample.backgrounds)):
            assert np.all(mask[uv[:, 1], uv[:, 0]] == 255), (i, v)
            hand = mask > 0
            away = cv2.dilate(mask, np.ones((7, 7), np.uint8)) == 0
            diff = np.abs(image.astype(np.int16) - background).mean(-1)
            assert diff[hand].mean() > 15, (i, v)   # the hand was drawn where the mask says...
            assert diff[away].mean() < 6, (i, v)    # ...and only there (noise + blur elsewhere)
            # the file with FreiHAND's index i + N * v is exactly this image, JPEG-encoded
            jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, writer_mod.JPEG_QUALITY])[1]
            assert (dataset / "training" / "rgb" / f"{i + N_TRAIN * v:08d}.jpg").read_bytes() == jpeg.tobytes()
        saved = cv2.imread(str(dataset / "training" / "mask" / f"{i:08d}.jpg"), cv2.IMREAD_GRAYSCALE)
        assert np.mean((saved > 127) == (sample.masks[0] > 0)) > 0.99
    # versions share pose and camera but differ in appearance
    assert not np.array_equal(sample.images[0], sample.images[2])


def test_eval_verts_lie_on_the_rendered_surface(dataset):
    xyz, K, verts = (_load(dataset, "evaluation", f) for f in ("xyz", "K", "verts"))
    for i in range(N_EVAL):
        mask = render_sample(SEED, "evaluation", i, SIZE).masks[0]
        uv = np.round(project(verts[i], K[i])).astype(int)
        assert np.all((uv >= 0) & (uv < SIZE))
        grown = cv2.dilate(mask, np.ones((5, 5), np.uint8))
        assert np.all(grown[uv[:, 1], uv[:, 0]] == 255)
        nearest = np.linalg.norm(verts[i][:, None] - xyz[i][None], axis=-1).min(1)
        assert nearest.max() < 0.05
        assert np.ptp(verts[i], axis=0).max() > 0.08  # spread over the whole hand


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cos = np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def test_anatomy_realistic_over_many_hands():
    hands = []
    for i in range(300):
        rng = rng_for(123, "training", i, 0)
        pose = sample_articulation(rng)
        assert pose.within_limits()
        hands.append(forward_kinematics(sample_shape(rng), pose).joints)
    xyz = np.stack(hands)
    lengths = np.stack([np.linalg.norm(xyz[:, b] - xyz[:, a], axis=-1) for a, b in SKELETON], 1)
    palm = [SKELETON.index((0, f[0])) for f in FINGERS[1:]]
    phalanges = [k for k in range(len(SKELETON)) if k not in palm and SKELETON[k] != (0, 1)]
    assert np.all((lengths[:, palm] > 0.06) & (lengths[:, palm] < 0.11))        # wrist -> MCP
    assert np.all((lengths[:, phalanges] > 0.01) & (lengths[:, phalanges] < 0.05))
    assert np.all((lengths[:, SKELETON.index((0, 1))] > 0.02) & (lengths[:, SKELETON.index((0, 1))] < 0.05))
    scale = bone_length(xyz)
    assert 0.028 < scale.mean() < 0.034 and scale.std() > 0.001
    # flexion at PIP/DIP (and thumb MCP/IP) within 0-115 deg: never folds back on itself
    for f in FINGERS:
        for k in (1, 2):
            bend = _angle(xyz[:, f[k]] - xyz[:, f[k - 1]], xyz[:, f[k + 1]] - xyz[:, f[k]])
            assert np.all(bend <= 115.0)
    # fingers lie in their flexion plane: PIP/DIP flexion does not move a finger sideways
    for f in FINGERS[1:]:
        n = np.cross(xyz[:, f[1]] - xyz[:, f[0]], xyz[:, f[2]] - xyz[:, f[1]])
        bent = np.linalg.norm(n, axis=-1) > 1e-5
        off = np.abs(np.sum(n * (xyz[:, f[3]] - xyz[:, f[2]]), -1)) / np.maximum(np.linalg.norm(n, axis=-1), 1e-12)
        assert np.all(off[bent] < 1e-6)
    # poses vary: open hands and fists both occur
    tips = np.linalg.norm(xyz[:, [8, 12, 16, 20]] - xyz[:, :1], axis=-1).mean(1)
    assert tips.min() < 0.11 and tips.max() > 0.15


def test_same_seed_identical_bytes_other_seed_differs(dataset, tmp_path):
    again = make_synthetic_freihand(tmp_path / "again", N_TRAIN, N_EVAL, size=SIZE, seed=SEED, progress=False)
    assert _files(again) == _files(dataset)
    other = make_synthetic_freihand(tmp_path / "other", N_TRAIN, N_EVAL, size=SIZE, seed=SEED + 1,
                                    progress=False)
    a, b = _files(dataset), _files(other)
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a)


def test_workers_give_identical_bytes(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(writer_mod, "BLOCK", 2)  # several work items even for a tiny dataset
    par = make_synthetic_freihand(tmp_path / "par", N_TRAIN, N_EVAL, size=SIZE, seed=SEED, workers=2,
                                  progress=False)
    assert _files(par) == _files(dataset)


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_mod, "BLOCK", 2)
    real, calls = writer_mod._generate_block, []

    def dies_on_third_block(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-way
        return real(*args)

    monkeypatch.setattr(writer_mod, "_generate_block", dies_on_third_block)
    out = tmp_path / "fh"
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_freihand(out, N_TRAIN, N_EVAL, size=SIZE, seed=SEED, progress=False)
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither OUT_DIR nor its temporary folder


def test_existing_dataset_not_overwritten(tmp_path):
    out = make_synthetic_freihand(tmp_path / "fh", 2, 1, size=64, seed=1, progress=False)
    before = _files(out)
    with pytest.raises(FileExistsError, match="complete dataset"):
        make_synthetic_freihand(out, 2, 1, size=64, seed=2, progress=False)
    assert _files(out) == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        make_synthetic_freihand(tmp_path / "other", 2, 1, size=64, progress=False)
    assert _files(tmp_path / "other") == {"notes.txt": b"mine"}
    with pytest.raises(FileExistsError, match="not a dataset written by make_synthetic_freihand"):
        make_synthetic_freihand(tmp_path / "other", 2, 1, size=64, overwrite=True, progress=False)
    assert _files(tmp_path / "other") == {"notes.txt": b"mine"}  # --overwrite never deletes what it did not write
    make_synthetic_freihand(out, 3, 1, size=64, seed=2, overwrite=True, progress=False)
    assert len(json.loads((out / "training_xyz.json").read_text())) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fh", "other"]  # no leftovers
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"fh.tmp-{int(dead.stdout)}"  # the temporary folder of a killed run
    stale.mkdir()
    (stale / "x.jpg").write_bytes(b"partial")
    make_synthetic_freihand(out, 1, 1, size=64, seed=2, overwrite=True, progress=False)
    assert not stale.exists()
    (tmp_path / "empty").mkdir()
    assert is_complete(make_synthetic_freihand(tmp_path / "empty", 1, 0, size=64, progress=False))


@pytest.mark.parametrize("kwargs,field", [(dict(num_train=0), "num_train"), (dict(num_eval=-1), "num_eval"),
                                          (dict(size=8), "size"), (dict(seed=-3), "seed"),
                                          (dict(workers=0), "workers"), (dict(num_train=True), "num_train"),
                                          (dict(size=64.0), "size")])
def test_bad_arguments_one_line_error(tmp_path, kwargs, field):
    args = dict(num_train=2, num_eval=1, size=64) | kwargs
    with pytest.raises(ValueError, match=field) as err:
        make_synthetic_freihand(tmp_path / "fh", progress=False, **args)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "fh").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(ROOT / "tools" / "make_synthetic_freihand.py"), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_cli(tmp_path):
    out = tmp_path / "fh"
    res = _cli(str(out), "--num-train", "2", "--num-eval", "1", "--size", "64", "--seed", "5")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(out)
    assert "img" in res.stderr  # the progress bar goes to stderr
    assert len(list((out / "training" / "rgb").iterdir())) == 8
    assert cv2.imread(str(out / "evaluation" / "rgb" / "00000000.jpg")).shape == (64, 64, 3)
    again = _cli(str(out), "--num-train", "2", "--num-eval", "1")
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "--overwrite" in again.stderr
    for bad in (["--num-train", "0", "--num-eval", "1"], ["--num-train", "x", "--num-eval", "1"],
                ["--num-eval", "1"], ["--num-train", "2", "--num-eval", "0"]):
        res = _cli(str(tmp_path / "bad"), *bad)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "bad").exists()


def test_freihand_images_dataset_reads_it(dataset):
    pytest.importorskip("mmpretrain")
    from peclr_mm.selfsup import FreiHandImages

    ds = FreiHandImages(data_root=str(dataset))
    assert len(ds) == len(VERSIONS) * N_TRAIN
    info = ds.get_data_info(N_TRAIN * 3 + 1)  # version 'auto', sample 1
    assert info["version"] == "auto"
    assert Path(info["img_path"]).name == f"{N_TRAIN * 3 + 1:08d}.jpg"


def test_workers_die_with_a_killed_parent(tmp_path):
    """SIGKILL of the CLI (no chance to clean up): its rendering workers must not go on."""
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "make_synthetic_freihand.py"), str(tmp_path / "fh"),
                             "--num-train", "400", "--num-eval", "1", "--size", "64", "--workers", "2"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def children() -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    deadline = time.time() + 90  # until the workers render (their initializer has run)
    while time.time() < deadline and not list(tmp_path.glob("fh.tmp-*/training/rgb/*.jpg")):
        time.sleep(0.2)
    kids = children()
    assert kids, "no worker processes started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def alive(pid: int) -> bool:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in kids):
        time.sleep(0.2)
    assert not any(alive(p) for p in kids), "workers outlived the killed parent"
