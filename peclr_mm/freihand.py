"""The FreiHAND format, read and checked in one place for both halves and the tools (numpy only; OpenCV is
imported only to read an image's size).

    <root>/training_{xyz,K,scale}.json   training/rgb/%08d.jpg   (4 versions: image = sample + N * version)
    <root>/evaluation_{xyz,K,scale}.json evaluation/rgb/%08d.jpg (1 version) [+ evaluation_verts.json]
    pred.json (Codalab submission)       [xyz_list, verts_list]  (21x3 joints and Vx3 vertices per sample)

Every problem raises :class:`~peclr_mm.fileio.FreiHandFormatError` with one line naming the file, the field
and the sample; implausible but possible annotations (a ``scale`` far from the bone length it should be,
hands projected entirely outside the image) are warned about once per file with their count.
"""
from __future__ import annotations

import os
import os.path as osp
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from peclr_mm.fileio import FreiHandFormatError, load_json, sample_array
from peclr_mm.geometry import NUM_JOINTS, bone_length, project

SPLITS = ('training', 'evaluation')
VERSIONS = ('gs', 'hom', 'sample', 'auto')  # training image versions, in file order
ANNOTATIONS = ('xyz', 'K', 'scale')  # <split>_<field>.json of every split
NUM_VERTS = 778  # MANO vertices, as in evaluation_verts.json
# Per-sample shape of each field (-1: any size, the same for all samples: predicted meshes need not be MANO's).
SHAPES = {'xyz': (NUM_JOINTS, 3), 'K': (3, 3), 'scale': (), 'verts': (-1, 3)}
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')


class Split(NamedTuple):
    """One split's folder facts: ``prefix`` ('training'/'evaluation'), ``rgb_dir``, ``copies`` (versions)."""

    prefix: str
    rgb_dir: str
    copies: int


def num_copies(split: str) -> int:
    """Images per sample of ``split``: ``'training'`` has the 4 :data:`VERSIONS`, ``'evaluation'`` one."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
    return len(VERSIONS) if split == 'training' else 1


def check_versions(versions: str | Sequence[str], owner: str) -> tuple[str, ...]:
    """``versions`` (one name or several) as a tuple, if a non-empty subset of :data:`VERSIONS`; otherwise a
    one-line ``ValueError`` naming ``owner``."""
    versions = (versions,) if isinstance(versions, str) else tuple(versions)
    bad = [v for v in versions if v not in VERSIONS]
    if bad or not versions:
        raise ValueError(f'{owner}: unknown FreiHAND versions {bad or list(versions)}; valid: {list(VERSIONS)}')
    return versions


def split_layout(root: str | os.PathLike, split: str) -> Split:
    """``split``: ``'training'`` or ``'evaluation'``."""
    return Split(split, osp.join(root, split, 'rgb'), num_copies(split))


def annotation_file(root: str | os.PathLike, prefix: str, field: str) -> str:
    """``<root>/<prefix>_<field>.json``, e.g. ``training_xyz.json``."""
    return osp.join(root, f'{prefix}_{field}.json')


def is_complete(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds both splits' annotation files and image folders."""
    return all(osp.exists(p) for s in SPLITS
               for p in [annotation_file(root, s, f) for f in ANNOTATIONS] + [split_layout(root, s).rgb_dir])


def read_field(path: str | os.PathLike, field: str, length: int | None = None) -> np.ndarray:
    """One annotation file as a float64 array (N, *SHAPES[field]): numbers only, shapes, finite values and,
    when given, ``length`` samples."""
    return sample_array(load_json(path, field, numeric=True), SHAPES[field], path, field, length)


def read_submission(path: str | os.PathLike, num: int, verts: bool = True
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """A Codalab ``pred.json`` ``[xyz_list, verts_list]`` with ``num`` samples each -> xyz (num, 21, 3) and
    verts (num, V, 3); with ``verts=False`` the vertex list is not converted (None)."""
    pred = load_json(path, 'pred', numeric=True)
    if not isinstance(pred, list) or len(pred) != 2:
        raise FreiHandFormatError(f"{path}: field 'pred' must be [xyz_list, verts_list], got "
                                  f"{type(pred).__name__} of length {len(pred) if hasattr(pred, '__len__') else '?'}")
    return (sample_array(pred[0], SHAPES['xyz'], path, 'xyz', length=num),
            sample_array(pred[1], SHAPES['verts'], path, 'verts', length=num) if verts else None)


def keypoint_boxes(uv: np.ndarray) -> np.ndarray:
    """Tight boxes (N, 4) float32 ``x1, y1, x2, y2`` of projected joints (N, 21, 2), as the official loader
    crops labelled samples."""
    return np.concatenate([uv.min(-2), uv.max(-2)], axis=-1).astype(np.float32)


def image_ids_on_disk(rgb_dir: str) -> set[int]:
    """Numeric stems of the images in ``rgb_dir`` (a missing folder is an error)."""
    if not osp.isdir(rgb_dir):
        raise FreiHandFormatError(f'{rgb_dir}: image folder not found')
    ids = set()
    for entry in os.scandir(rgb_dir):
        stem, ext = osp.splitext(entry.name)
        if ext.lower() in IMAGE_EXTENSIONS and stem.isdigit():
            ids.add(int(stem))
    return ids


def count_samples(layout: Split, present: set[int]) -> int:
    """Samples per version from the image files alone: they must be ``0 .. copies * N - 1``."""
    total = len(present)
    n = total // layout.copies
    if total == 0 or total % layout.copies or present != set(range(total)):
        raise FreiHandFormatError(
            f'{layout.rgb_dir}: {total} images are not {layout.copies} version(s) x N samples numbered from 0 '
            '(files missing, or annotations needed to tell the versions apart)')
    return n


def check_images(layout: Split, n: int, present: set[int], ann_file: str) -> None:
    """Exactly the images ``0 .. copies * n - 1`` exist: the annotations and the folder describe one set."""
    beyond = [i for i in present if i >= n * layout.copies]
    if beyond:
        raise FreiHandFormatError(
            f'{layout.rgb_dir}: image {max(beyond):08d} exists but {ann_file} has {n} samples x {layout.copies} '
            f'version(s): lengths of the annotations and the images disagree')
    missing = sorted(set(range(n * layout.copies)) - present)
    if missing:
        k = missing[0]
        raise FreiHandFormatError(f'{osp.join(layout.rgb_dir, f"{k:08d}.jpg")}: image missing for sample {k % n} '
                                  f'({n} samples in {ann_file})')


def image_size(layout: Split, present: set[int]) -> tuple[int, int]:
    """(w, h) of the split's first image (FreiHAND's images share one size)."""
    import cv2  # here only: the rest of the format is numpy alone (tools/eval_freihand.py needs no OpenCV)

    first = min(present)
    path = next((osp.join(layout.rgb_dir, f'{first:08d}{ext}') for ext in IMAGE_EXTENSIONS
                 if osp.isfile(osp.join(layout.rgb_dir, f'{first:08d}{ext}'))), None)
    img = cv2.imread(path) if path else None
    if img is None:
        raise FreiHandFormatError(f'{path or layout.rgb_dir}: unreadable image (size of the split unknown)')
    return img.shape[1], img.shape[0]


def read_annotations(root: str, prefix: str, size: tuple[int, int] | None = None,
                     fields: tuple[str, ...] = ('xyz', 'K', 'scale')) -> dict[str, np.ndarray]:
    """Load and validate ``<prefix>_<field>.json`` -> float64 arrays ``xyz`` (N, 21, 3), ``K`` (N, 3, 3),
    ``scale`` (N,): equal lengths, shapes, finite values, invertible K with its principal point inside the
    ``size`` = (w, h) image, joints in front of the camera, positive scale."""
    files = {f: annotation_file(root, prefix, f) for f in fields}
    out = {f: read_field(files[f], f) for f in fields}
    n = len(out[fields[0]])
    for f in fields[1:]:
        if len(out[f]) != n:
            raise FreiHandFormatError(f"{files[f]}: field '{f}' has {len(out[f])} samples but "
                                      f"{files[fields[0]]} has {n}")
    if 'K' in out:
        K = out['K']
        cond = np.linalg.cond(K)
        bad = ~(np.isfinite(cond) & (cond < 1e12))
        if bad.any():
            i = int(np.argmax(bad))
            raise FreiHandFormatError(f"{files['K']}: field 'K', sample {i}: not invertible "
                                      f"(det={np.linalg.det(K[i]):.3g})")
        if size is not None:
            w, h = size
            pp = K[:, :2, 2] / K[:, 2:, 2]
            bad = ~((pp >= 0) & (pp <= (w, h))).all(1)
            if bad.any():
                i = int(np.argmax(bad))
                raise FreiHandFormatError(f"{files['K']}: field 'K', sample {i}: principal point "
                                          f"({pp[i, 0]:.4g}, {pp[i, 1]:.4g}) outside the {w}x{h} image")
    if 'xyz' in out:
        xyz = out['xyz']
        bad = ~(xyz[..., 2] > 0).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            j = int(np.argmin(xyz[i, :, 2] > 0))
            raise FreiHandFormatError(f"{files['xyz']}: field 'xyz', sample {i}: joint {j} has depth "
                                      f"{xyz[i, j, 2]:.4g} <= 0 (must be in front of the camera)")
    if 'scale' in out:
        scale = out['scale']
        bad = ~(scale > 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise FreiHandFormatError(f"{files['scale']}: field 'scale', sample {i}: {scale[i]:.4g} <= 0")
        if 'xyz' in out:
            ratio = scale / np.maximum(bone_length(out['xyz']), 1e-12)
            off = np.flatnonzero((ratio < 0.5) | (ratio > 2.0))
            if len(off):
                warnings.warn(f"{files['scale']}: {len(off)} of {n} samples have a 'scale' more than 2x off the "
                              f"bone length |xyz[10] - xyz[9]| it should be (first: sample {off[0]}, "
                              f"ratio {ratio[off[0]]:.3g})", stacklevel=2)
    if size is not None and 'xyz' in out and 'K' in out:
        uv = project(out['xyz'], out['K'])
        w, h = size
        outside = ~((uv >= 0) & (uv <= (w - 1, h - 1))).all(-1)  # (N, 21) per joint
        none_inside = outside.all(-1)
        if none_inside.any():
            warnings.warn(f"{files['K']}: {int(none_inside.sum())} of {n} samples project every joint outside "
                          f"the {w}x{h} image (first: sample {int(np.argmax(none_inside))}); check K and xyz",
                          stacklevel=2)
    return out
