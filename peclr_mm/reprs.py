"""``__repr__`` text for the registered transforms and datasets, in OpenMMLab's ``Name(key=value, ...)`` form."""
from __future__ import annotations


def format_repr(obj: object, **fields: object) -> str:
    """``ClassName(k1=v1, k2=v2)`` with each value's ``repr``; e.g. ``format_repr(self, prob=self.prob)``."""
    return f'{type(obj).__name__}({", ".join(f"{k}={v!r}" for k, v in fields.items())})'
