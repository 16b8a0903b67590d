"""Drawing of the pinned mmpose 1.3.2 under newer numpy and matplotlib.

- :func:`pass_0d_circle_radius`: numpy 2.5 turned the conversion of an array with ``ndim > 0`` to a Python
  scalar (``int(np.array([3]))``), deprecated since numpy 1.25, into a ``TypeError``. mmpose 1.3.2's
  ``PoseLocalVisualizer`` draws every keypoint with ``draw_circles(kpt, radius=np.array([r]), ...)`` and its
  OpenCV backend calls ``int(radius)``: under numpy >= 2.5 every keypoint drawing fails
  (``MMPoseInferencer``'s visualisation, ``PoseLocalVisualizer.add_datasample``); numpy < 2.5 only warns.
- :func:`restore_canvas_tostring_rgb`: mmpose 1.3.2's ``Pose3dLocalVisualizer`` reads its figure with
  ``FigureCanvasAgg.tostring_rgb``, removed in matplotlib 3.10.

Standard library only at import.
"""
from __future__ import annotations

import functools
from typing import Callable

from ._patching import ABSENT, is_patched, upstream_patch, version, wrap_upstream

DRAW_CIRCLES_TARGET = 'mmpose.visualization.opencv_backend_visualizer.OpencvBackendVisualizer.draw_circles'
TOSTRING_RGB_TARGET = 'matplotlib.backends.backend_agg.FigureCanvasAgg.tostring_rgb'


def _0d_radius(draw: Callable) -> Callable:
    """mmpose's ``draw_circles`` (``draw``) with a size-1 ``radius`` array passed on as a 0-d array."""
    import numpy as np

    @functools.wraps(draw)
    def draw_circles(self, center, radius, *args, **kwargs):
        if self.backend == 'opencv' and isinstance(radius, np.ndarray) and radius.size == 1:
            radius = radius.reshape(())
        return draw(self, center, radius, *args, **kwargs)
    return draw_circles


def needs_0d_circle_radius() -> bool:
    """numpy >= 2.5 (where ``int()`` of a size-1 1-d array raises)."""
    return version('numpy') >= (2, 5)


@upstream_patch((DRAW_CIRCLES_TARGET,), library='mmpose', versions='1.3.2 with numpy >= 2.5',
                reason="OpencvBackendVisualizer.draw_circles calls int() of a 1-d radius array",
                needed=needs_0d_circle_radius)
def pass_0d_circle_radius() -> bool:
    """``OpencvBackendVisualizer.draw_circles`` passes a size-1 ``radius`` array on as a 0-d array, which
    ``int()`` accepts in every numpy; the drawing is unchanged.

    Upstream defect: mmpose 1.3.2's OpenCV backend calls ``int(radius)`` on the 1-d array its
    ``PoseLocalVisualizer`` passes: a ``TypeError`` from numpy 2.5 on. Applied from numpy 2.5 on; idempotent;
    ``__wrapped__`` is mmpose's method.

    Returns:
        bool: whether the replacement was installed now.
    """
    return wrap_upstream(needs_0d_circle_radius, DRAW_CIRCLES_TARGET, _0d_radius)


def _tostring_rgb(absent) -> Callable:
    """``FigureCanvasAgg.tostring_rgb`` where matplotlib has none (``absent`` is ``ABSENT``)."""
    def tostring_rgb(self) -> bytes:
        """The canvas' RGB bytes, row-major (matplotlib < 3.10's ``FigureCanvasAgg.tostring_rgb``)."""
        import numpy as np
        return np.ascontiguousarray(np.asarray(self.buffer_rgba())[..., :3]).tobytes()
    return tostring_rgb


def needs_canvas_tostring_rgb() -> bool:
    """matplotlib's Agg canvas has no ``tostring_rgb`` of its own (matplotlib >= 3.10)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    method = getattr(FigureCanvasAgg, 'tostring_rgb', ABSENT)
    return method is ABSENT or is_patched(method)


@upstream_patch((TOSTRING_RGB_TARGET,), library='matplotlib', versions='>= 3.10 (for mmpose 1.3.2)',
                reason="Pose3dLocalVisualizer calls FigureCanvasAgg.tostring_rgb, removed in matplotlib 3.10",
                needed=needs_canvas_tostring_rgb)
def restore_canvas_tostring_rgb() -> bool:
    """Give matplotlib's Agg canvas ``tostring_rgb`` where it lacks it: the canvas' RGB bytes, row-major, as
    matplotlib < 3.10 returned them.

    Upstream defect: mmpose 1.3.2's ``Pose3dLocalVisualizer`` calls ``FigureCanvasAgg.tostring_rgb``, which
    matplotlib 3.10 removed. Applied where matplotlib lacks it; idempotent; it wraps nothing (its original is
    ``peclr_mm.compat.original(...)`` = ``ABSENT``: matplotlib has no such method).

    Returns:
        bool: whether the method was added now.
    """
    return wrap_upstream(needs_canvas_tostring_rgb, TOSTRING_RGB_TARGET, _tostring_rgb)
