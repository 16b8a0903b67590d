"""Atomic writes for both halves and the tools: a temporary file in the target folder, then ``os.replace``, so
never a half-written file."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


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
