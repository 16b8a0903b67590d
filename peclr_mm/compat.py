"""Fixes of the pinned upstream libraries for the libraries around them, each a named function.

| function | upstream defect | applies to | applied by |
| --- | --- | --- | --- |
| :func:`restore_canvas_tostring_rgb` | mmpose 1.3.2's ``Pose3dLocalVisualizer`` reads its figure with ``FigureCanvasAgg.tostring_rgb``, removed in matplotlib 3.10 | matplotlib >= 3.10 | :mod:`peclr_mm.pose` |

Each function is idempotent and does nothing where its upstream does not need it.
"""
from __future__ import annotations

__all__ = ['restore_canvas_tostring_rgb']


def restore_canvas_tostring_rgb() -> bool:
    """Give matplotlib's Agg canvas its ``tostring_rgb`` back where it lacks it (matplotlib >= 3.10): the
    canvas' RGB bytes, row-major, as matplotlib < 3.10 returned them.

    Returns:
        bool: whether the method was added.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    if hasattr(FigureCanvasAgg, 'tostring_rgb'):
        return False

    def tostring_rgb(self) -> bytes:
        import numpy as np
        return np.ascontiguousarray(np.asarray(self.buffer_rgba())[..., :3]).tobytes()

    FigureCanvasAgg.tostring_rgb = tostring_rgb
    return True
