"""numpy >= 2.5 fixes for the pinned mmpose 1.3.2, applied when :mod:`peclr_mm.pose` is imported.

numpy 2.5 turned the conversion of an array with ``ndim > 0`` to a Python scalar (``int(np.array([3]))``),
deprecated since numpy 1.25, into a ``TypeError``. mmpose 1.3.2's ``PoseLocalVisualizer`` draws every keypoint
with ``draw_circles(kpt, radius=np.array([r]), ...)`` and its OpenCV backend calls ``int(radius)``, so under
numpy 2.5 (the lent GPU machines' numpy) every keypoint drawing fails: ``MMPoseInferencer``'s visualisation,
``PoseLocalVisualizer.add_datasample``. :func:`patch_mmpose_visualizer` hands that backend a 0-d array
instead, which ``int()`` accepts in every numpy; the drawing is unchanged. The stack's own numpy (2.2) only
warns, so the patch is applied from numpy 2.5 on (:func:`apply`); it is idempotent.
"""
from __future__ import annotations

import functools

__all__ = ['apply', 'needs_patch', 'patch_mmpose_visualizer']

_FLAG = '_peclr_mm_numpy_compat'


def needs_patch() -> bool:
    import numpy as np
    return tuple(int(p) for p in np.__version__.split('.')[:2]) >= (2, 5)


def patch_mmpose_visualizer() -> None:
    """Make ``OpencvBackendVisualizer.draw_circles`` pass a size-1 ``radius`` on as a 0-d array."""
    import numpy as np
    from mmpose.visualization.opencv_backend_visualizer import OpencvBackendVisualizer

    draw = OpencvBackendVisualizer.draw_circles
    if getattr(draw, _FLAG, False):
        return

    @functools.wraps(draw)
    def draw_circles(self, center, radius, *args, **kwargs):
        if self.backend == 'opencv' and isinstance(radius, np.ndarray) and radius.size == 1:
            radius = radius.reshape(())
        return draw(self, center, radius, *args, **kwargs)

    setattr(draw_circles, _FLAG, True)
    OpencvBackendVisualizer.draw_circles = draw_circles


def apply() -> None:
    """The fixes this numpy needs (none below 2.5)."""
    if needs_patch():
        patch_mmpose_visualizer()
