"""File I/O both halves share (numpy only): FreiHAND-format JSON with one-line, located errors, and
atomic writes (temporary file in the target folder, then ``os.replace``: never a half-written file)."""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np


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


def atomic_write_set(writes: dict[str | os.PathLike, Callable[[IO], Any]], binary: bool = False) -> list[Path]:
    """Write several files as one set: ``write(f)`` fills a temporary file beside each target first, and only
    when all were written are they moved into place (a failure leaves every old file untouched)."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, write in writes.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as f:
                write(f)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    return [path for _, path in staged]


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], binary: bool = False) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then move it into place atomically."""
    return atomic_write_set({path: write}, binary)[0]


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    return atomic_write(path, lambda f: f.write(text))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """``json.dump`` to ``path`` atomically (temporary file + ``os.replace``)."""
    return atomic_write(path, lambda f: json.dump(obj, f))


def load_scalars(work_dir: str | os.PathLike, prefix: str = '') -> list[dict]:
    """The records of mmengine's ``vis_data/scalars.json`` of the newest run under ``work_dir`` (one dict per
    line, with ``step``) that hold a key starting with ``prefix``; a missing file is an error naming the folder."""
    files = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    if not files:
        raise FileNotFoundError(f'{work_dir}: no */vis_data/scalars.json (not an mmengine work dir?)')
    records = []
    for n, line in enumerate(files[-1].read_text().splitlines(), 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f'{files[-1]}: line {n} is not JSON ({e.msg})') from None
        if any(k.startswith(prefix) for k in rec):
            records.append(rec)
    return records
