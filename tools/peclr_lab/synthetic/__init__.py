"""Synthetic hands in FreiHAND's exact layout, so PeCLR can be demonstrated without downloading FreiHAND.

A procedural right hand (FreiHAND's 21-joint order, MANO-like bone lengths, joint limits, thumb
opposition) is posed, placed in front of a FreiHAND-like camera so it fills most of a square crop, and
drawn as depth-sorted shaded capsules and a palm slab over green-screen or cluttered backgrounds.
Numpy + OpenCV only (no torch / OpenMMLab), so both halves of peclr_mm can use it.

    >>> from peclr_lab.synthetic import make_synthetic_freihand
    >>> make_synthetic_freihand('data/synthetic_freihand', num_train=1000, num_eval=200, seed=0)

or ``python tools/make_synthetic_freihand.py data/synthetic_freihand --num-train 1000 --num-eval 200``.
"""
from peclr_mm.freihand import VERSIONS, is_complete

from .camera import Scene, place_hand, sample_intrinsics
from .detection import make_synthetic_hand_detection, render_composite
from .hand import (
                   FINGER_LIMITS,
                   FINGERS,
                   NUM_VERTS,
                   THUMB_LIMITS,
                   Articulation,
                   HandGeometry,
                   HandShape,
                   forward_kinematics,
                   sample_articulation,
                   sample_shape,
)
from .render import Appearance, render_hand, sample_appearance
from .sample import SPLITS, Sample, render_sample
from .writer import make_synthetic_freihand

__all__ = [
    "FINGERS", "FINGER_LIMITS", "THUMB_LIMITS", "NUM_VERTS", "VERSIONS", "SPLITS", "Articulation",
    "HandGeometry", "HandShape", "Scene", "Sample", "Appearance", "forward_kinematics", "sample_articulation",
    "sample_shape", "sample_intrinsics", "place_hand", "sample_appearance", "render_hand", "render_sample",
    "is_complete", "make_synthetic_freihand", "make_synthetic_hand_detection", "render_composite",
]
