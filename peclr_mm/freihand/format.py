"""The FreiHAND format, read and checked in one place for both halves and the tools (numpy only; Pillow is
imported only to read the images' sizes from their headers).

    <root>/training_{xyz,K,scale}.json   training/rgb/%08d.jpg   (4 versions: image = sample + N * version)
    <root>/evaluation_{xyz,K,scale}.json evaluation/rgb/%08d.jpg (1 version) [+ evaluation_verts.json]
    pred.json (Codalab submission)       [xyz_list, verts_list]  (21x3 joints and Vx3 vertices per sample)

Every problem raises :class:`FreiHandFormatError` with one line naming the file, the field
and the sample; implausible but possible annotations (a ``scale`` far from the bone length it should be,
hands projected entirely outside the image) are warned about once per file with their count.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from peclr_mm.geometry import NUM_JOINTS, bone_length, project


class FreiHandFormatError(ValueError):
    """Bad FreiHAND-format input. The message is one line naming the file, the field and the sample."""


_NOT_A_NUMBER = re.compile(r'["tfn]')  # JSON strings and the literals true / false / null


def _first_non_number(obj: Any, where: str = "") -> str | None:
    """Index path (e.g. ``[3][20][1]``) of the first leaf that is not an int/float (bools included)."""
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            found = _first_non_number(item, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    return None if isinstance(obj, int | float) and not isinstance(obj, bool) else f"{where} ({json.dumps(obj)})"


def load_json(path: str | os.PathLike, field: str, numeric: bool = False) -> Any:
    """``json.load`` with a one-line error naming the file and the field it should hold. ``numeric``: the
    file must be nested lists of numbers only (no strings, booleans or null, which numpy would coerce)."""
    path = Path(path)
    if not path.is_file():
        raise FreiHandFormatError(f"{path}: file not found (expected the '{field}' field)")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        obj = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FreiHandFormatError(f"{path}: malformed JSON for field '{field}': {e}") from None
    if numeric and isinstance(obj, list) and _NOT_A_NUMBER.search(text):  # fast text check; locate only then
        where = _first_non_number(obj)  # None: only NaN/Infinity tokens, which sample_array reports
        if where is not None:
            raise FreiHandFormatError(f"{path}: field '{field}' must hold numbers only; found {where}")
    return obj


def sample_array(obj: Any, shape: Sequence[int], path: str | os.PathLike, field: str,
                 length: int | None = None) -> np.ndarray:
    """Per-sample list -> float64 array (N, *shape), checking the length, every sample's shape and
    finiteness. ``shape`` entries of -1 match any size, but the same size for all samples."""
    if not isinstance(obj, list | tuple):
        raise FreiHandFormatError(f"{path}: field '{field}' must be a list of samples, got "
                                  f"{type(obj).__name__}")
    if length is not None and len(obj) != length:
        raise FreiHandFormatError(f"{path}: field '{field}' has {len(obj)} samples, expected {length}")
    try:
        arr = np.asarray(obj, dtype=np.float64)
        ok = arr.ndim == len(shape) + 1 and all(s in (-1, a) for s, a in zip(shape, arr.shape[1:]))
    except (ValueError, TypeError):  # ragged or non-numeric: find the first bad sample below
        arr, ok = None, False
    if not ok:  # locate the first offending sample
        want: tuple | None = None
        for i, sample in enumerate(obj):
            try:
                s = np.asarray(sample, dtype=np.float64)
            except (ValueError, TypeError):
                raise FreiHandFormatError(f"{path}: field '{field}', sample {i}: not a numeric array") from None
            if want is None and s.ndim == len(shape):  # -1 dims take the first sample's size
                want = tuple(a if w == -1 else w for w, a in zip(shape, s.shape))
            exp = want or tuple(shape)
            if s.shape != exp:
                shown = "x".join("V" if w == -1 else str(w) for w in exp)
                raise FreiHandFormatError(f"{path}: field '{field}', sample {i}: shape {s.shape}, "
                                          f"expected {shown}")
        raise FreiHandFormatError(f"{path}: field '{field}': not an array of samples")
    bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
    if bad.any():
        raise FreiHandFormatError(f"{path}: field '{field}', sample {int(np.argmax(bad))}: "
                                  "non-finite value (NaN or inf)")
    return arr


SPLITS = ('training', 'evaluation')
VERSIONS = ('gs', 'hom', 'sample', 'auto')  # training image versions, in file order
ANNOTATIONS = ('xyz', 'K', 'scale')  # <split>_<field>.json of every split
NUM_VERTS = 778  # MANO vertices, as in evaluation_verts.json
# Per-sample shape of each field (-1: any size, the same for all samples: predicted meshes need not be MANO's).
SHAPES = {'xyz': (NUM_JOINTS, 3), 'K': (3, 3), 'scale': (), 'verts': (-1, 3)}
IMAGE_NAME = '%08d.jpg'  # every FreiHAND image file: the datasets open exactly this name
# Image suffixes (any case) that the project reads as images: inference inputs, the files HandImageFolder
# collects, and in a FreiHAND split's folder the numbered files that are refused unless ``.jpg`` (the
# datasets would fail to open them only at load time).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


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
    """One annotation file as a float64 array (N, *SHAPES[field]): at least one sample, numbers only, shapes,
    finite values and, when given, ``length`` samples."""
    obj = load_json(path, field, numeric=True)
    if isinstance(obj, list) and not obj:
        raise FreiHandFormatError(f"{path}: field '{field}' is empty (no samples)")
    return sample_array(obj, SHAPES[field], path, field, length)


def read_submission(path: str | os.PathLike, num: int, verts: bool = True
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """A Codalab ``pred.json`` ``[xyz_list, verts_list]`` with ``num`` samples each -> xyz (num, 21, 3) and
    verts (num, V, 3). A keypoints-only submission (``[xyz_list]`` or ``[xyz_list, []]``) gives verts None; with ``verts=False`` the vertex list is not converted (None)."""
    pred = load_json(path, 'pred', numeric=True)
    if not isinstance(pred, list) or len(pred) not in (1, 2):
        raise FreiHandFormatError(f"{path}: field 'pred' must be [xyz_list, verts_list] (or [xyz_list]), got "
                                  f"{type(pred).__name__} of length {len(pred) if hasattr(pred, '__len__') else '?'}")
    xyz = sample_array(pred[0], SHAPES['xyz'], path, 'xyz', length=num)
    given = len(pred) == 2 and pred[1] != []
    return xyz, sample_array(pred[1], SHAPES['verts'], path, 'verts', length=num) if verts and given else None


def keypoint_boxes(uv: np.ndarray) -> np.ndarray:
    """Tight boxes (N, 4) float32 ``x1, y1, x2, y2`` of projected joints (N, 21, 2), as the official loader
    crops labelled samples."""
    return np.concatenate([uv.min(-2), uv.max(-2)], axis=-1).astype(np.float32)


def image_ids_on_disk(rgb_dir: str) -> set[int]:
    """Numbers of the ``%08d.jpg`` images in ``rgb_dir``. A missing folder is an error, and so is a numbered
    image of another suffix (``00000003.png``, ``00000003.JPG``): the datasets open ``%08d.jpg`` only."""
    if not osp.isdir(rgb_dir):
        raise FreiHandFormatError(f'{rgb_dir}: image folder not found')
    ids, other = set(), []
    for entry in os.scandir(rgb_dir):
        stem, ext = osp.splitext(entry.name)
        if not stem.isdigit() or ext.lower() not in IMAGE_EXTENSIONS:
            continue
        if ext == '.jpg':
            ids.add(int(stem))
        else:
            other.append(entry.name)
    if other:
        raise FreiHandFormatError(
            f'{rgb_dir}: {min(other)}' + (f' and {len(other) - 1} more' if len(other) > 1 else '') +
            f': FreiHAND images are named {IMAGE_NAME} (00000000.jpg, 00000001.jpg, ...); convert or rename '
            f'{"them" if len(other) > 1 else "it"}')
    return ids


def count_samples(layout: Split, present: set[int]) -> int:
    """Samples per version from the image files alone: they must be ``0 .. copies * N - 1``."""
    total = len(present)
    n = total // layout.copies
    if total == 0:
        raise FreiHandFormatError(f'{layout.rgb_dir}: empty: no FreiHAND images ({IMAGE_NAME}) in this '
                                  'folder')
    if total % layout.copies or present != set(range(total)):
        raise FreiHandFormatError(
            f'{layout.rgb_dir}: {total} images are not {layout.copies} version(s) x N samples numbered from 0 '
            '(files missing, or annotations needed to tell the versions apart)')
    return n


def check_images(layout: Split, n: int, present: set[int], ann_file: str) -> None:
    """Exactly the images ``0 .. copies * n - 1`` exist: the annotations and the folder describe one set
    (an empty folder is :func:`read_split`'s error, before the images' size is read)."""
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


def _header_size(path: str) -> tuple[int, int]:
    """(w, h) of an image as OpenCV / mmcv read it (EXIF orientation applied), from its header alone."""
    from PIL import Image  # here only: the rest of the format is numpy alone (eval_freihand.py needs neither)

    try:
        with Image.open(path) as im:
            w, h = im.size
            if 'exif' in im.info and im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # a quarter turn
                w, h = h, w
    except (OSError, SyntaxError, ValueError) as e:  # UnidentifiedImageError is an OSError
        reason = str(e).splitlines()[0].replace(f" '{path}'", '') if str(e) else type(e).__name__
        raise FreiHandFormatError(f'{path}: unreadable image header ({reason})') from None
    return w, h


def image_size(layout: Split, present: set[int]) -> tuple[int, int]:
    """(w, h) shared by every image ``present`` of the split.

    Each size is read from the file's header, without decoding (tens of microseconds per image). An image
    whose size differs from that of most images of the split is an error naming the file and both sizes: a
    crop box, a principal-point check or a pseudo box made for one size would be silently wrong for it.
    """
    count: dict[tuple[int, int], int] = {}
    first: dict[tuple[int, int], int] = {}
    for i in sorted(present):
        size = _header_size(osp.join(layout.rgb_dir, IMAGE_NAME % i))
        count[size] = count.get(size, 0) + 1
        first.setdefault(size, i)
    if not count:
        raise FreiHandFormatError(f'{layout.rgb_dir}: empty: no FreiHAND images ({IMAGE_NAME}), size unknown')
    common = max(count, key=lambda s: (count[s], -first[s]))
    if len(count) > 1:
        odd = min((s for s in count if s != common), key=lambda s: first[s])
        n_odd = len(present) - count[common]
        raise FreiHandFormatError(
            f'{osp.join(layout.rgb_dir, IMAGE_NAME % first[odd])}: image is {odd[0]}x{odd[1]} but '
            f'{count[common]} of the {len(present)} images of the folder are {common[0]}x{common[1]} '
            f'({n_odd} of another size); FreiHAND images share one size')
    return common


def read_annotations(root: str, prefix: str, size: tuple[int, int] | None = None,
                     fields: tuple[str, ...] = ('xyz', 'K', 'scale')) -> dict[str, np.ndarray]:
    """Load and validate ``<prefix>_<field>.json`` -> float64 arrays ``xyz`` (N, 21, 3), ``K`` (N, 3, 3),
    ``scale`` (N,): equal lengths, shapes, finite values, invertible K with its principal point inside the
    ``size`` = (w, h) image, joints in front of the camera, positive scale. K is ``[[fx, s, cx], [0, fy, cy],
    [0, 0, 1]]`` (up to scale): a bottom row other than (0, 0, c), e.g. a transposed K, is refused."""
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
        # A transposed K keeps the principal point in the bottom row: read as (0, 0), it would pass the
        # image-bounds check below. Below-diagonal entries must vanish relative to the matrix's size.
        lower = np.abs(K[:, [1, 2, 2], [0, 0, 1]]).max(1)
        bad = lower > 1e-9 * np.abs(K).max((1, 2))
        if bad.any():
            i = int(np.argmax(bad))
            row = ', '.join(f'{v:.4g}' for v in K[i, 2])
            raise FreiHandFormatError(f"{files['K']}: field 'K', sample {i}: nonzero entries below the "
                                      f"diagonal (bottom row [{row}]); expected [[fx, 0, cx], [0, fy, cy], "
                                      "[0, 0, 1]] (a transposed K?)")
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


class SplitData(NamedTuple):
    """One split of a FreiHAND folder, read and checked by :func:`read_split`.

    ``layout``: its :class:`Split`; ``num_samples``: N, samples per version; ``size``: ``(w, h)`` of its
    images; ``annotations``: the fields read (float64 arrays of N samples, see :func:`read_annotations`;
    empty without annotation files); ``keypoints``: the joints projected with K, (N, 21, 2) float64 pixels,
    and ``boxes``: their tight boxes (N, 4) float32 (:func:`keypoint_boxes`), both None unless ``xyz`` and
    ``K`` were read.
    """

    layout: Split
    num_samples: int
    size: tuple[int, int]
    annotations: dict[str, np.ndarray]
    keypoints: np.ndarray | None
    boxes: np.ndarray | None


def read_split(root: str | os.PathLike, split: str, fields: Sequence[str] = ANNOTATIONS,
               expected_size: int | tuple[int, int] | None = None) -> SplitData:
    """Read and check ``split`` (``'training'`` or ``'evaluation'``) of the FreiHAND folder ``root``: the
    images on disk (:func:`image_ids_on_disk`; none is an error), their one size (:func:`image_size`), the
    annotation ``fields`` (:func:`read_annotations`) and that images and annotations describe one set
    (:func:`check_images`: exactly ``copies x N`` images for the N samples of the first field). Without
    ``fields`` the images alone give N (:func:`count_samples`: ``copies x N`` consecutively numbered files).

    ``expected_size``: the size the caller was given, a side (square images) or ``(w, h)``; images of
    another size are an error naming it as ``image_size=`` (the datasets' argument). None: any one size.
    """
    layout = split_layout(root, split)
    present = image_ids_on_disk(layout.rgb_dir)
    if not present:
        raise FreiHandFormatError(f'{layout.rgb_dir}: empty: no FreiHAND images ({IMAGE_NAME}) in this folder')
    size = image_size(layout, present)
    if expected_size is not None:
        want = (expected_size, expected_size) if isinstance(expected_size, int) else tuple(expected_size)
        if want != size:
            raise FreiHandFormatError(f'{layout.rgb_dir}: images are {size[0]}x{size[1]} but image_size='
                                      f'{expected_size}; leave image_size=None to read it from the files')
    fields = tuple(fields)
    if fields:
        ann = read_annotations(root, layout.prefix, size, fields)
        n = len(ann[fields[0]])
        check_images(layout, n, present, annotation_file(root, layout.prefix, fields[0]))
    else:
        ann, n = {}, count_samples(layout, present)
    uv = boxes = None
    if 'xyz' in ann and 'K' in ann:
        uv = project(ann['xyz'], ann['K'])
        boxes = keypoint_boxes(uv)
    return SplitData(layout, n, size, ann, uv, boxes)
