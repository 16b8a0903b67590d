"""One synthetic FreiHAND sample: a random hand, camera and view, rendered in each of the dataset's image
versions. Every sample draws from its own seeded streams, so a sample depends only on
(seed, split, index), never on the order or the process that renders it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# FreiHAND's training image versions, in file order: image index = sample index + N * version.
from peclr_mm.freihand import VERSIONS, num_copies

from .background import clutter, green_screen
from .camera import Scene, place_hand
from .hand import Articulation, HandShape, forward_kinematics, sample_articulation, sample_shape
from .render import harmonise, recolour, render_hand, sample_appearance

SPLITS = {"training": 0, "evaluation": 1}


@dataclass(frozen=True)
class Sample:
    """scene: K and the posed hand (camera coordinates); images / masks / backgrounds: one (H, W, 3) uint8
    image, (H, W) uint8 hand mask and the background it was drawn on, per version."""

    shape: HandShape
    pose: Articulation
    scene: Scene
    images: list[np.ndarray]
    masks: list[np.ndarray]
    backgrounds: list[np.ndarray]

    @property
    def xyz(self) -> np.ndarray:
        """(21, 3) joints in metres, camera coordinates, FreiHAND order."""
        return self.scene.hand.joints

    @property
    def K(self) -> np.ndarray:
        return self.scene.K

    @property
    def verts(self) -> np.ndarray:
        """(778, 3) points on the hand's surface, metres."""
        return self.scene.hand.verts


def rng_for(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The generator of one stream (0: hand and camera; 1 + v: image version v) of one sample."""
    return np.random.default_rng([seed, SPLITS[split], index, stream])


def render_sample(seed: int, split: str, index: int, size: int = 224, versions: int | None = None) -> Sample:
    """Sample ``index`` of ``split`` ('training': the 4 VERSIONS; 'evaluation': one cluttered image).

    Version 'gs' is the hand on a green-screen wall; 'hom' on clutter with its colours harmonised to the
    background; 'sample' on clutter; 'auto' on clutter, recoloured. Evaluation images use clutter.
    Pose, camera, skin and lighting are shared by the versions, as in FreiHAND (one capture, several
    post-processings).
    """
    rng = rng_for(seed, split, index, 0)
    shape, pose = sample_shape(rng), sample_articulation(rng)
    scene = place_hand(rng, forward_kinematics(shape, pose), size)
    app = sample_appearance(rng)
    if versions is None:
        versions = num_copies(split)
    images, masks, backgrounds = [], [], []
    for v in range(versions):
        vrng = rng_for(seed, split, index, 1 + v)
        kind = VERSIONS[v] if split == "training" else "sample"
        background = green_screen(vrng, size) if kind == "gs" else clutter(vrng, size)
        look = app
        if kind == "hom":
            look = harmonise(app, background.reshape(-1, 3).mean(0), vrng.uniform(0.1, 0.3))
        elif kind == "auto":
            look = recolour(app, vrng)
        image, mask = render_hand(background, scene, look, vrng)
        images.append(image)
        masks.append(mask)
        backgrounds.append(background)
    return Sample(shape, pose, scene, images, masks, backgrounds)
