"""``Hand25D`` codec: 3-D hand joints <-> 2.5-D regression targets (u, v, z_rel / scale)."""
from __future__ import annotations

from typing import Tuple

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS

from peclr_mm.geometry import SCALE_BONE, project
from peclr_mm.pose.root_depth import rays_np, root_depth_np


@KEYPOINT_CODECS.register_module()
class Hand25D(BaseKeypointCodec):
    r"""2.5-D hand pose representation of Iqbal et al. (2018), as fine-tuned by PeCLR.

    Encoded (per instance n, joint k):

    - ``keypoint_labels`` (N, K, 3) float32: ``u / w``, ``v / h`` (pixel position in the network input,
      normalised by ``input_size``) and ``(z_k - z_root) / s`` with ``s`` FreiHAND's ``scale`` (length of
      the bone ``scale_bone``, metres);
    - ``keypoint_weights`` (N, K) float32: keypoint visibility (optionally 0 outside the input);
    - ``root_depth`` (N, 1) float32: ``z_root / s``, the target of the optional z-root refinement.

    Decoding inverts this with the closed-form root depth (:mod:`peclr_mm.pose.root_depth`) on the same
    bone, so that ``decode(encode(x)) == x`` for true intrinsics and scale. Everything is expressed in
    the *input* camera ``K' = A K`` (``input_K``, set by :class:`TopdownAffine3D`), so the 3-D result is
    in the original camera frame, in metres, whatever crop/rotation/flip produced the input.

    :meth:`decode` does not follow mmpose's ``decode(encoded) -> (keypoints, scores)``: it takes each
    sample's input camera ``input_K`` and bone length ``hand_scale`` (and optionally a refined root depth)
    and returns ``(keypoints_cam, keypoints)``. The 2.5-D labels carry neither camera nor size (normalised
    ``u, v`` and ``z_rel / s``): 3-D joints in metres exist only with ``K'`` (to turn ``u, v`` into rays)
    and ``s`` (for metric depth and the closed-form root), which differ per sample and come with the data
    samples, not the config. A regression has no scores; :class:`Regression25DHead` sets them to 1. mmpose's
    own 3-D codecs take per-sample inputs in the same way (``ImagePoseLifting.decode(encoded,
    target_root)``, ``Hand3DHeatmap.decode(heatmaps, root_depth, hand_type)``).

    Args:
        input_size (tuple): network input size ``(w, h)``.
        root_index (int): the root joint (FreiHAND: 0, the wrist).
        scale_bone (tuple): joints of the reference bone (FreiHAND's ``scale``: (9, 10)).
        mask_outside (bool): give weight 0 to joints projecting outside the input. Defaults to False:
            the 2.5-D targets stay well defined outside the crop.
    """

    auxiliary_encode_keys = {'keypoints_cam', 'input_K', 'hand_scale'}
    label_mapping_table = dict(keypoint_labels='keypoint_labels', keypoint_weights='keypoint_weights',
                               root_depth='root_depth')

    def __init__(self, input_size: Tuple[int, int] = (224, 224), root_index: int = 0,
                 scale_bone: Tuple[int, int] = SCALE_BONE, mask_outside: bool = False) -> None:
        super().__init__()
        self.input_size = tuple(input_size)
        self.root_index = root_index
        self.scale_bone = tuple(scale_bone)
        self.mask_outside = mask_outside

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None,
               keypoints_cam: np.ndarray | None = None, input_K: np.ndarray | None = None,
               hand_scale: np.ndarray | None = None) -> dict:
        """Encode camera-frame joints into 2.5-D labels.

        Args:
            keypoints (np.ndarray): (N, K, 2) 2-D keypoints in the input (only their shape is used:
                u, v are re-projected from ``keypoints_cam`` in float64).
            keypoints_visible (np.ndarray, optional): (N, K) visibility.
            keypoints_cam (np.ndarray): (N, K, 3) joints in the original camera frame, metres.
            input_K (np.ndarray): (N, 3, 3) intrinsics of the network input ``K' = A K``.
            hand_scale (np.ndarray): (N,) reference bone length, metres.

        Returns:
            dict: ``keypoint_labels`` (N, K, 3), ``keypoint_weights`` (N, K), ``root_depth`` (N, 1).
        """
        if keypoints_cam is None or input_K is None or hand_scale is None:
            raise ValueError('Hand25D.encode needs keypoints_cam, input_K and hand_scale; use '
                             'FreiHand3DDataset with TopdownAffine3D in the pipeline')
        xyz = np.asarray(keypoints_cam, np.float64).reshape(-1, keypoints.shape[-2], 3)
        K = np.asarray(input_K, np.float64).reshape(-1, 3, 3)
        s = np.asarray(hand_scale, np.float64).reshape(-1)
        w, h = self.input_size
        uv = project(xyz, K)
        z = xyz[..., 2]
        labels = np.concatenate([uv / np.array([w, h]),
                                 ((z - z[:, self.root_index, None]) / s[:, None])[..., None]], axis=-1)
        if keypoints_visible is None:
            keypoints_visible = np.ones(xyz.shape[:2], dtype=np.float32)
        weights = (np.asarray(keypoints_visible).reshape(xyz.shape[:2]) > 0.5).astype(np.float32)
        if self.mask_outside:
            inside = ((uv >= 0) & (uv <= np.array([w - 1, h - 1]))).all(-1)
            weights = weights * inside
        return dict(keypoint_labels=labels.astype(np.float32), keypoint_weights=weights,
                    root_depth=(z[:, self.root_index] / s)[:, None].astype(np.float32))

    def decode(self, encoded: np.ndarray, input_K: np.ndarray, hand_scale: np.ndarray,
               root_depth: np.ndarray | None = None) -> Tuple[np.ndarray, np.ndarray]:
        """Decode 2.5-D outputs into camera-frame joints.

        Args:
            encoded (np.ndarray): (N, K, 3) normalised ``(u, v, z_rel / s)``.
            input_K (np.ndarray): (N, 3, 3) intrinsics of the input the outputs refer to.
            hand_scale (np.ndarray): (N,) reference bone length, metres.
            root_depth (np.ndarray, optional): (N,) scale-normalised root depth (e.g. refined by the
                head's MLP). Defaults to the closed-form solution.

        Returns:
            tuple:
            - keypoints_cam (np.ndarray): (N, K, 3) joints in the original camera frame, metres;
            - keypoints (np.ndarray): (N, K, 2) 2-D keypoints in input pixels.
        """
        enc = np.asarray(encoded, np.float64)
        K = np.asarray(input_K, np.float64).reshape(-1, 3, 3)
        s = np.asarray(hand_scale, np.float64).reshape(-1)
        uv = enc[..., :2] * np.array(self.input_size, np.float64)
        zrel = enc[..., 2] - enc[:, self.root_index, 2, None]
        rays = rays_np(uv, K)
        if root_depth is None:
            root_depth = root_depth_np(rays, zrel, self.scale_bone)
        root = np.asarray(root_depth, np.float64).reshape(-1)
        xyz = rays * ((root[:, None] + zrel) * s[:, None])[..., None]
        return xyz, uv
