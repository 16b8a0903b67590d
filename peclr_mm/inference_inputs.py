"""Inputs of inference on files (``tools/infer.py``, :func:`peclr_mm.pose.inference.infer_to_folder`): an
image, a folder of images or a video as a stream of frames, intrinsics given as four numbers or a JSON
file (one matrix for every image, or one per file name), and the output folder checked against them.

Every problem with them raises :class:`InputError` with one line naming the file or the option. OpenCV is
imported only to read a video.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from peclr_mm.fileio import load_json
from peclr_mm.freihand import IMAGE_EXTENSIONS
from peclr_mm.geometry import as_intrinsics

VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
OUTPUT_SUFFIXES = ('.png', '.json')  # the picture and the record of an input: <output name><suffix>


class InputError(ValueError):
    """Bad input to inference on files (missing file, empty folder, unreadable video, malformed K): the
    message is one line naming the file or the option."""


class IntrinsicsMap(dict):
    """Intrinsics per file name (``{name: (3, 3) array}``), read from the JSON file ``source``.

    Args:
        items: the ``name -> (3, 3) float64 array`` pairs.
        source: the JSON file they were read from (named by :func:`intrinsics_for` when a name is missing).
    """

    def __init__(self, items: dict[str, np.ndarray], source: str):
        super().__init__(items)
        self.source = source


def _image_files(folder: Path) -> list[Path]:
    """The images of ``folder`` (:data:`IMAGE_EXTENSIONS`, any case), sorted by name; not its subfolders."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def iter_inputs(path: Path, every: int = 1) -> Iterator[tuple[str, str, np.ndarray | None]]:
    """The images of an image file, a folder or a video, lazily.

    Args:
        path: an image file, a folder of images (:data:`IMAGE_EXTENSIONS`, sorted by name; other files are
            ignored) or a video (:data:`VIDEO_EXTS`).
        every: for a video, keep every ``every``-th frame (frames 0, every, 2 * every, ...).

    Yields:
        ``(out_name, name, frame)`` per image: ``out_name`` names the outputs (``<out_name>.png``,
        ``<out_name>.json``): the image's full file name (``hand.jpg``), or ``<video file name>_<frame
        index:06d>`` (``clip.mp4_000002``), so that ``hand.jpg`` and ``hand.png`` of one folder never share
        an output; ``name`` is the key of an :class:`IntrinsicsMap` (the image's file name, or the
        video's); ``frame`` the (H, W, 3) BGR uint8 video frame, or None for an image file
        (``path / name`` for a folder, else ``path``), which the caller reads.

    Raises:
        InputError: at the first iteration, when ``path`` does not exist, a folder holds no image, or a
            video cannot be opened or yields no frame.
    """
    if path.is_dir():
        files = _image_files(path)
        if not files:
            raise InputError(f'{path}: no images ({" ".join(IMAGE_EXTENSIONS)}) in this folder')
        for f in files:
            yield f.name, f.name, None
    elif path.suffix.lower() in VIDEO_EXTS:
        import cv2
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise InputError(f'{path}: not a readable video')
        i, read = 0, 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if i % every == 0:
                    read += 1
                    yield f'{path.name}_{i:06d}', path.name, frame
                i += 1
        finally:
            cap.release()
        if read == 0:
            raise InputError(f'{path}: no frames could be read from this video')
    elif path.is_file():
        yield path.name, path.name, None
    else:
        raise InputError(f'{path}: no such image, folder or video')


def open_inputs(path: Path, every: int = 1) -> Iterator[tuple[str, str, np.ndarray | None]]:
    """:func:`iter_inputs` with its first image already taken, so that a missing file, an empty folder or
    an unreadable video raises :class:`InputError` now (before a slow model build), not at the first
    iteration. Yields the same items, the first one included."""
    inputs = iter_inputs(path, every)
    first = next(inputs)
    return _chain(first, inputs)


def _chain(first, rest):
    yield first
    yield from rest


def check_outputs(source: Path, out: Path, overwrite: bool = False) -> None:
    """Refuse an output folder that would mix results with the inputs or replace existing files.

    Args:
        source: the input (image, folder of images or video; :func:`iter_inputs`).
        out: the output folder (``--out``); it need not exist.
        overwrite: allow replacing the output files of these inputs that exist already (``--overwrite``).

    Raises:
        InputError: ``out`` is the input folder (a folder input) or the input's folder (an image or a
            video), contains it, or, for a folder input, lies inside it (outputs would sit among the inputs
            and, as ``.png`` files, become inputs of the next run); ``out`` is a file; without
            ``overwrite``, an output of these inputs (``<name>.png`` / ``<name>.json``) exists in ``out``.
            One line naming ``out`` or the file.
    """
    src, dst = source.resolve(), out.resolve()
    folder = src.is_dir()
    base = src if folder else src.parent
    what = f'the input folder {source}' if folder else f"the folder of the input {source}"
    if dst == base:
        raise InputError(f'{out}: --out is {what}; write the results to another folder')
    if dst in base.parents:
        raise InputError(f'{out}: --out contains {what}; write the results to a folder outside it')
    if folder and base in dst.parents:
        raise InputError(f'{out}: --out is inside {what}; write the results to a folder outside it')
    if dst.exists() and not dst.is_dir():
        raise InputError(f'{out}: --out exists and is not a folder')
    if overwrite or not dst.is_dir():
        return
    if folder:
        names = {f.name + s for f in _image_files(src) for s in OUTPUT_SUFFIXES}
        taken = sorted(p.name for p in dst.iterdir() if p.name in names)
    elif src.suffix.lower() in VIDEO_EXTS:
        suffixes = '|'.join(map(re.escape, OUTPUT_SUFFIXES))
        frame = re.compile(re.escape(src.name) + r'_\d{6,}(' + suffixes + ')')
        taken = sorted(p.name for p in dst.iterdir() if frame.fullmatch(p.name))
    else:
        taken = [src.name + s for s in OUTPUT_SUFFIXES if (dst / (src.name + s)).exists()]
    if taken:
        more = f' (and {len(taken) - 1} more outputs of these inputs)' if len(taken) > 1 else ''
        raise InputError(f'{out / taken[0]}: exists{more}; pass --overwrite to replace, or choose another '
                         '--out')


def _intrinsics(value: Any, where: str) -> np.ndarray:
    try:
        return as_intrinsics(value)
    except (ValueError, TypeError) as e:
        why = ' '.join(str(e).split())
        raise InputError(f'{where}: {why[:200]}{" ..." if len(why) > 200 else ""}') from None


def _is_matrix_list(obj: Any) -> bool:
    """A list of 3 x 3 matrices (FreiHAND's ``<split>_K.json``), not one 3 x 3 matrix."""
    return isinstance(obj, list) and bool(obj) and isinstance(obj[0], list) and bool(obj[0]) \
        and isinstance(obj[0][0], list)


def parse_K(values: list[str] | None) -> np.ndarray | IntrinsicsMap | None:
    """The ``--K`` option of ``tools/infer.py`` as intrinsics.

    Args:
        values: the option's words: four numbers ``fx fy cx cy`` (pixels), or one JSON file holding a
            3 x 3 matrix, ``[fx, fy, cx, cy]``, an object mapping file names to either, or FreiHAND's
            per-sample list of 3 x 3 matrices (``evaluation_K.json``: sample i is image ``%08d.jpg``); None
            or empty: no K.

    Returns:
        A (3, 3) float64 matrix for every image, an :class:`IntrinsicsMap` (per file name), or None.

    Raises:
        InputError: wrong number of words, a non-number, a missing or malformed file, a singular or
            non-finite K (the message names ``--K``, the file, or the file and the field).
    """
    if not values:
        return None
    if len(values) == 4:
        try:
            return _intrinsics([float(v) for v in values], '--K')
        except ValueError as e:
            raise InputError(f'--K: expected fx fy cx cy as numbers or one JSON file ({e})') from None
    if len(values) != 1:
        raise InputError(f'--K: expected fx fy cx cy or one JSON file, got {len(values)} values')
    try:
        obj = load_json(values[0], 'K')
    except (OSError, ValueError) as e:
        raise InputError(str(e).splitlines()[0]) from None
    if isinstance(obj, dict):
        return IntrinsicsMap({str(k): _intrinsics(v, f'{values[0]}: field {k!r}') for k, v in obj.items()},
                             values[0])
    if _is_matrix_list(obj):  # FreiHAND's per-sample list: sample i is image %08d.jpg
        return IntrinsicsMap({f'{i:08d}.jpg': _intrinsics(v, f'{values[0]}: sample {i}') for i, v in enumerate(obj)},
                             values[0])
    return _intrinsics(obj, values[0])


def intrinsics_for(K: np.ndarray | dict[str, np.ndarray] | None, name: str) -> np.ndarray | None:
    """The intrinsics of the image ``name`` (an :func:`iter_inputs` name).

    Args:
        K: None, one (3, 3) matrix for every image, or a mapping from file names to matrices (e.g. an
            :class:`IntrinsicsMap`).
        name: the file name (a video's frames share the video's name).

    Returns:
        ``K`` itself unless it is a mapping; else its entry for ``name``.

    Raises:
        InputError: a mapping without ``name`` (naming the mapping's JSON file when known).
    """
    if not isinstance(K, dict):
        return K
    k = K.get(name)
    if k is None:
        raise InputError(f'{getattr(K, "source", "K")}: no K for {name!r}')
    return k
