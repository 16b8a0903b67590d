"""Write a synthetic dataset in FreiHAND's exact on-disk layout, atomically and deterministically.

Layout (as FreiHAND_pub_v2 / FreiHAND_pub_v2_eval)::

    training_xyz.json    N x 21 x 3 joints, metres, camera coordinates
    training_K.json      N x 3 x 3 intrinsics
    training_scale.json  N bone lengths |joint 10 - joint 9|, metres
    training/rgb/%08d.jpg    4 N images: sample i, version v ('gs', 'hom', 'sample', 'auto') -> i + N v
    training/mask/%08d.jpg   N hand masks (hand + forearm), one per sample
    evaluation_xyz.json, evaluation_K.json, evaluation_scale.json, evaluation_verts.json (M x 778 x 3)
    evaluation/rgb/%08d.jpg  M images
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from peclr_mm.freihand import (
    NUM_VERTS,
    SHAPES,
    SPLITS,
    annotation_file,
    is_complete,
    num_copies,
    split_layout,
)
from peclr_mm.geometry import bone_length

from .sample import render_sample

BLOCK = 16            # samples per work item
JPEG_QUALITY = 90
MARKER = ".peclr_mm_synthetic.json"  # written into every dataset made here; --overwrite needs it
# Decimal places written to the json files (fixed, so identical runs give identical bytes).
DECIMALS = {"xyz": 8, "K": 6, "scale": 8, "verts": 6}


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low or (
            high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def _write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"{path}: JPEG encoding failed")
    path.write_bytes(buf.tobytes())


def _generate_block(root: str, split: str, start: int, stop: int, total: int, size: int, seed: int,
                    quality: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render samples [start, stop) of ``split`` (``total`` samples) and write their images under ``root``.

    Returns xyz (B, 21, 3), K (B, 3, 3) and verts (B, 778, 3) of the block (verts (B, 0, 3) for training:
    FreiHAND ships no training verts here, and 32560 x 778 points would cost 600 MB of memory).
    """
    rgb = Path(split_layout(root, split).rgb_dir)
    xyz, K, verts = [], [], []
    for i in range(start, stop):
        sample = render_sample(seed, split, i, size)
        for v, image in enumerate(sample.images):
            _write_jpeg(rgb / f"{i + total * v:08d}.jpg", image, quality)
        if split == "training":
            _write_jpeg(rgb.parent / "mask" / f"{i:08d}.jpg", sample.masks[0], quality)
        xyz.append(sample.xyz)
        K.append(sample.K)
        verts.append(sample.verts if split == "evaluation" else sample.verts[:0])
    return np.stack(xyz), np.stack(K), np.stack(verts)


def _init_worker(parent: int) -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe
    if sys.platform.startswith("linux"):  # die with the parent, even on SIGKILL (PR_SET_PDEATHSIG = 1)
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died while this worker was starting
        os._exit(1)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _remove_stale_temps(out: Path) -> None:
    """Remove ``<out>.tmp-<pid>`` folders of runs whose process is gone (killed before they could clean up)."""
    for tmp in out.parent.glob(f"{out.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)) and tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)


def _dump(path: str | os.PathLike, array: np.ndarray, decimals: int) -> None:
    """json list of ``array`` rounded to ``decimals`` places (FreiHAND's json is a plain nested list)."""
    Path(path).write_text(json.dumps(np.round(array, decimals).tolist()))


def _render_split(tmp: Path, split: str, count: int, size: int, seed: int, workers: int, quality: int,
                  bar) -> dict[str, np.ndarray]:
    """Render one split into ``tmp``; returns its stacked annotations."""
    rgb = Path(split_layout(tmp, split).rgb_dir)
    rgb.mkdir(parents=True)
    if split == "training":
        (rgb.parent / "mask").mkdir()
    images_per = num_copies(split)
    blocks = [(s, min(s + BLOCK, count)) for s in range(0, count, BLOCK)]
    parts: list = [None] * len(blocks)
    if workers == 1 or len(blocks) == 1:
        for b, (s, e) in enumerate(blocks):
            parts[b] = _generate_block(str(tmp), split, s, e, count, size, seed, quality)
            bar.update((e - s) * images_per)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(_generate_block, str(tmp), split, s, e, count, size, seed, quality): b
                       for b, (s, e) in enumerate(blocks)}
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                    for fut in done:
                        b = futures[fut]
                        parts[b] = fut.result()  # re-raises a worker's exception
                        bar.update((blocks[b][1] - blocks[b][0]) * images_per)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    if not parts:
        return {"xyz": np.zeros((0, *SHAPES["xyz"])), "K": np.zeros((0, *SHAPES["K"])),
                "verts": np.zeros((0, NUM_VERTS, 3))}
    xyz, K, verts = (np.concatenate(p) for p in zip(*parts))
    return {"xyz": xyz, "K": K, "verts": verts}


def _write_annotations(tmp: Path, split: str, ann: dict[str, np.ndarray]) -> None:
    xyz = np.round(ann["xyz"], DECIMALS["xyz"])
    _dump(annotation_file(tmp, split, "xyz"), xyz, DECIMALS["xyz"])
    _dump(annotation_file(tmp, split, "K"), ann["K"], DECIMALS["K"])
    # scale from the *written* joints, so the files agree with each other exactly.
    _dump(annotation_file(tmp, split, "scale"), bone_length(xyz), DECIMALS["scale"])
    if split == "evaluation":
        _dump(annotation_file(tmp, split, "verts"), ann["verts"], DECIMALS["verts"])


def make_synthetic_freihand(out_dir: str | os.PathLike, num_train: int, num_eval: int, size: int = 224,
                            seed: int = 0, workers: int = 1, overwrite: bool = False, progress: bool = True,
                            quality: int = JPEG_QUALITY) -> Path:
    """Render ``num_train`` training samples (4 image versions each) and ``num_eval`` evaluation samples
    of synthetic hands into ``out_dir`` in FreiHAND's layout; returns the dataset path.

    Deterministic: one ``seed`` gives byte-identical files, whatever ``workers`` is. Atomic: everything is
    written to ``<out_dir>.tmp-<pid>`` and renamed to ``out_dir`` at the end; on any error (or Ctrl-C) the
    temporary folder is removed (and those of killed earlier runs, on the next call). An existing non-empty
    ``out_dir`` is refused unless ``overwrite``, and even then unless it holds this function's marker file
    (``.peclr_mm_synthetic.json``, with the settings): nothing else is ever deleted. A symbolic link is
    refused: nothing is written through it.
    """
    num_train = _check_int("num_train", num_train, 1)
    num_eval = _check_int("num_eval", num_eval, 0)
    size = _check_int("size", size, 32, 4096)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    workers = _check_int("workers", workers, 1, 256)
    quality = _check_int("quality", quality, 1, 100)

    def fill(tmp: Path, out: Path) -> dict:
        counts = dict(zip(SPLITS, (num_train, num_eval)))
        with tqdm(total=sum(num_copies(s) * c for s, c in counts.items()), unit="img", file=sys.stderr,
                  desc=f"synthetic FreiHAND -> {out.name}", disable=not progress, dynamic_ncols=True) as bar:
            for split, count in counts.items():
                ann = _render_split(tmp, split, count, size, seed, workers, quality, bar)
                _write_annotations(tmp, split, ann)
        return dict(num_train=num_train, num_eval=num_eval, size=size, seed=seed, quality=quality)

    return write_folder(out_dir, overwrite, MARKER, "make_synthetic_freihand", fill,
                        lambda o: "a complete dataset" if is_complete(o) else "not empty")


def write_folder(out_dir: str | os.PathLike, overwrite: bool, marker: str, writer: str,
                 fill: Callable[[Path, Path], dict], state: Callable[[Path], str] = lambda out: "not empty") -> Path:
    """A writer's output folder, written atomically: :func:`claim_output` (the arguments are its), then
    ``fill(tmp, out)`` writes the contents into the temporary folder and returns the settings, which go into
    ``marker`` (JSON), then :func:`publish_folder`. On any error or Ctrl-C the temporary folder is removed and
    ``out_dir`` is left as it was. Returns the output folder."""
    out, tmp = claim_output(out_dir, overwrite, marker, writer, state)
    try:
        (tmp / marker).write_text(json.dumps(fill(tmp, out)))
        publish_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def publish_folder(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out`` by renames; an ``out`` that exists (empty, or one the caller
    may replace) is renamed aside first and deleted once ``tmp`` is in place."""
    if out.exists():
        old = out.with_name(f"{out.name}.old-{os.getpid()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)


def claim_output(out_dir: str | os.PathLike, overwrite: bool, marker: str, writer: str,
                 state: Callable[[Path], str]) -> tuple[Path, Path]:
    """Check a writer's output folder and make the temporary folder it fills before :func:`publish_folder`.

    Args:
        out_dir: the output folder.
        overwrite: whether a non-empty ``out_dir`` may be replaced; only one holding ``marker`` (written by
            ``writer``) ever is.
        marker: the file name the writer puts into every folder it makes.
        writer: the writer's name, for the messages.
        state: what to call an existing non-empty ``out_dir`` in the refusal.

    Returns:
        ``(out, tmp)``: the absolute output path and a new empty ``<out>.tmp-<pid>`` beside it (the temporary
        folders of killed runs removed).

    Raises:
        FileExistsError: ``out_dir`` is a symbolic link (its target is not the writer's to fill or delete) or
            a file; a non-empty folder without ``overwrite``, or without ``marker``.
    """
    out = Path(out_dir).absolute()
    if out.is_symlink():
        raise FileExistsError(f"{out}: a symbolic link (to {os.readlink(out)}); refusing to write through it: "
                              "give a real folder")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out}: {state(out)}; pass overwrite=True (--overwrite) to replace it")
        if not (out / marker).is_file():
            raise FileExistsError(f"{out}: not a dataset written by {writer} (no {marker}); refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return out, tmp
