"""Inputs of inference on files (``tools/infer.py``): an image, a folder of images or a video, intrinsics
given as four numbers or a JSON file (one matrix for every image, or one per file name), hand boxes per
file name, and the output folder checked against them.

Every problem with them raises :class:`InputError` with one line naming the file or the option. OpenCV is
imported only to read a video.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from peclr_mm.freihand import IMAGE_EXTENSIONS, load_json
from peclr_mm.geometry import as_intrinsics

VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')


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


def inferencer_inputs(path: Path) -> list[str] | str:
    """The inputs of ``path`` as mmpose's inferencer takes them, checked before any model is built.

    Args:
        path: an image file, a folder of images (:data:`IMAGE_EXTENSIONS`; other files and subfolders are
            ignored) or a video (:data:`VIDEO_EXTS`).

    Returns:
        The image files (a folder's sorted by name) as strings, or the video's path.

    Raises:
        InputError: ``path`` does not exist, a folder holds no image, OpenCV cannot read an image's format,
            or a video cannot be opened or yields no frame.
    """
    import cv2
    if path.suffix.lower() in VIDEO_EXTS and path.is_file():
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened() or not cap.read()[0]:
                raise InputError(f'{path}: not a readable video (no frame could be read)')
        finally:
            cap.release()
        return str(path)
    if not path.exists():
        raise InputError(f'{path}: no such image, folder or video')
    files = image_files(path)
    if not files:
        raise InputError(f'{path}: no images ({" ".join(IMAGE_EXTENSIONS)}) in this folder')
    for f in files:
        if not cv2.haveImageReader(str(f)):
            raise InputError(f'{f}: not a readable image')
    return [str(f) for f in files]


def check_outputs(source: Path, out: Path, overwrite: bool = False) -> None:
    """Refuse an output folder that would mix results with the inputs or replace existing files.

    Args:
        source: the input (image, folder of images or video; :func:`inferencer_inputs`).
        out: the output folder (``--out``); it need not exist.
        overwrite: allow replacing the output files of these inputs that exist already (``--overwrite``).

    Raises:
        InputError: ``out`` is the input folder (a folder input) or the input's folder (an image or a
            video), contains it, or, for a folder input, lies inside it (outputs would sit among the inputs
            and become inputs of the next run); ``out`` is a file; without ``overwrite``, an output of these
            inputs (:func:`output_files`) exists. One line naming ``out`` or the file.
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
    taken = [p for p in output_files(source, out) if p.exists()]
    if taken:
        more = f' (and {len(taken) - 1} more outputs of these inputs)' if len(taken) > 1 else ''
        raise InputError(f'{taken[0]}: exists{more}; pass --overwrite to replace, or choose another --out')


def image_files(path: Path) -> list[Path]:
    """The images of an input: the images of a folder (:data:`IMAGE_EXTENSIONS`, any case, sorted by name; not
    its subfolders), or the image itself."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def output_files(source: Path, out: Path) -> list[Path]:
    """The files inference on ``source`` writes into ``out`` (mmpose's inferencer layout): per image
    ``visualizations/<file name>`` and ``predictions/<file name>.json``; for a video, the video of the
    pictures ``visualizations/<video file name>`` and ``predictions/<video file name>.json``. The full file
    name keeps ``hand.jpg`` and ``hand.png`` of one folder apart."""
    names = [source.name] if source.suffix.lower() in VIDEO_EXTS else [p.name for p in image_files(source)]
    return [f for n in names for f in (out / 'visualizations' / n, out / 'predictions' / f'{n}.json')]


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
    """The intrinsics of the image ``name`` (a file name; a video's frames share the video's).

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


def parse_boxes(numbers: list[float] | None, file: str | None, inputs: list[str] | str):
    """The hand boxes of ``tools/infer.py`` (``--bbox`` numbers or a ``--bboxes`` JSON file).

    Args:
        numbers: ``x1 y1 x2 y2`` repeated, the boxes of every image; None: not given.
        file: a JSON object mapping image file names to lists of ``[x1, y1, x2, y2]``; None: not given.
        inputs: :func:`inferencer_inputs` of the input (image files, or a video).

    Returns:
        None (no boxes), an (N, 4) array for every image, or a list with the boxes of each image file
        (an empty list: that image's hand box is found as without boxes).

    Raises:
        InputError: a count of numbers that is not a multiple of 4, a box with x2 <= x1 or y2 <= y1, a
            malformed file, or a file with boxes for a video.
    """
    if numbers:
        if len(numbers) % 4:
            raise InputError(f'--bbox: expected x1 y1 x2 y2 per box, got {len(numbers)} numbers')
        return check_boxes(numbers, '--bbox')
    if not file:
        return None
    if isinstance(inputs, str):
        raise InputError(f'{file}: --bboxes maps image file names to boxes; for a video use --bbox')
    try:
        obj = load_json(file, 'boxes')
    except (OSError, ValueError) as e:
        raise InputError(str(e).splitlines()[0]) from None
    if not isinstance(obj, dict):
        raise InputError(f'{file}: expected an object mapping image file names to lists of boxes, got '
                         f'{type(obj).__name__}')
    return [check_boxes(obj[Path(f).name], f'{file}: field {Path(f).name!r}') if Path(f).name in obj else []
            for f in inputs]


def check_boxes(value: Any, where: str, scores: bool = False) -> np.ndarray:
    """Hand boxes as an (N, 4) float64 array of ``x1, y1, x2, y2`` (image pixels); with ``scores``, (N, 4)
    or (N, 5) with a detection score last. Raises :class:`InputError` (one line naming ``where``) for anything
    else, a non-finite value, or a box with x2 <= x1 or y2 <= y1."""
    shape = '(x1, y1, x2, y2[, score])' if scores else '(x1, y1, x2, y2)'
    try:
        boxes = np.asarray(value, np.float64)
        boxes = boxes.reshape(-1, boxes.shape[-1] if scores and boxes.ndim else 4)
    except (ValueError, TypeError):
        raise InputError(f'{where}: boxes must be {shape}, got {str(value)[:200]}') from None
    if boxes.shape[1] not in ((4, 5) if scores else (4,)) or not np.isfinite(boxes).all() \
            or (boxes[:, 2] <= boxes[:, 0]).any() or (boxes[:, 3] <= boxes[:, 1]).any():
        raise InputError(f'{where}: boxes must be {shape} with x2 > x1 and y2 > y1, got '
                         f'{str(boxes.tolist())[:200]}')
    return boxes


def check_bone_length(value: float | None) -> float | None:
    """The reference-bone length in metres (None: not given); :class:`InputError` unless positive."""
    if value is not None and not (np.isfinite(value) and value > 0):
        raise InputError(f'bone_length must be a positive length in metres, got {value}')
    return value
