"""``MMPoseInferencer(pose3d=CONFIG)`` of a 2.5-D config builds :class:`~peclr_mm.pose.Hand25DInferencer`.

mmpose 1.3 picks the inner inferencer of ``MMPoseInferencer(pose3d=CONFIG)`` by the config's path:
``Hand3DInferencer`` when it contains ``hand3d`` (it reads InterNet's ``rel_root_depth`` and ``hand_type``,
which a 2.5-D head does not give), ``Pose3DInferencer`` (2-D -> 3-D lifting) otherwise; and its call keeps only
the arguments named in ``MMPoseInferencer.preprocess_kwargs`` (and its inner inferencer's), so the camera
arguments ``K`` and ``bone_length`` never reach a 2.5-D inferencer. The choice is made before the config's
``custom_imports`` import :mod:`peclr_mm.pose`, so :mod:`peclr_mm.mim` runs :func:`route_pose3d_inferencers`
right after ``mmpose.apis.inferencers.mmpose_inferencer`` is first imported. Standard library only.
"""
from __future__ import annotations

import importlib

from ._patching import keep, upstream_patch, wrap_upstream

MODULE = 'mmpose.apis.inferencers.mmpose_inferencer'
NAMES = ('Hand3DInferencer', 'Pose3DInferencer')
CALL_KWARGS = frozenset({'K', 'bone_length'})
TARGETS = tuple(f'{MODULE}.{name}' for name in NAMES) + (f'{MODULE}.MMPoseInferencer.preprocess_kwargs',)


def needs_inferencer_routing() -> bool:
    """mmpose (1.x) has no registry lookup for ``MMPoseInferencer``'s 3-D inferencer: always."""
    return True


def _builder(upstream):
    """``upstream(*args)``, or peclr_mm's inferencer for a 2.5-D config, decided when called
    (:func:`peclr_mm.pose.inferencer.build_3d_inferencer`)."""
    def build(*args, **kwargs):
        from peclr_mm.pose.inferencer import build_3d_inferencer
        return build_3d_inferencer(upstream, *args, **kwargs)
    build.__name__ = build.__qualname__ = upstream.__name__
    return build


@upstream_patch(TARGETS, library='mmpose', versions='1.x (checked 1.3.2)',
                reason="MMPoseInferencer(pose3d=...) picks Hand3DInferencer/Pose3DInferencer by file name and "
                       "drops K, bone_length", needed=needs_inferencer_routing)
def route_pose3d_inferencers() -> bool:
    """Make ``MMPoseInferencer(pose3d=CONFIG)`` build :class:`~peclr_mm.pose.Hand25DInferencer` for a config
    with a ``Regression25DHead`` and mmpose's own class for any other, and pass on ``K``/``bone_length``.

    Upstream defect: mmpose 1.x (checked 1.3.2) chooses ``Hand3DInferencer``/``Pose3DInferencer`` by the
    config's file name, with no way to register another 3-D inferencer. Both names in ``mmpose_inferencer``
    become builders (``__wrapped__``: mmpose's class); ``MMPoseInferencer.preprocess_kwargs`` gains
    ``K`` and ``bone_length`` (other inferencers never see them: the call filters by the inner inferencer's
    own arguments). Idempotent; imports that mmpose module.

    Returns:
        bool: whether anything was changed now.
    """
    if not needs_inferencer_routing():
        return False
    changed = False
    for target in TARGETS[:len(NAMES)]:
        changed |= wrap_upstream(needs_inferencer_routing, target, _builder)
    cls = importlib.import_module(MODULE).MMPoseInferencer
    if not CALL_KWARGS <= cls.preprocess_kwargs:
        keep(TARGETS[2], cls.preprocess_kwargs)
        cls.preprocess_kwargs = cls.preprocess_kwargs | CALL_KWARGS
        changed = True
    return changed
