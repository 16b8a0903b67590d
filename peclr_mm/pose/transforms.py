"""Camera-consistent top-down transforms: the intrinsics follow every image-space affine (K' = A K)."""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np
from mmpose.datasets.transforms import PackPoseInputs, TopdownAffine
from mmpose.registry import TRANSFORMS
from mmpose.structures.bbox import get_udp_warp_matrix, get_warp_matrix

from peclr_mm.geometry import as_intrinsics, to_homogeneous

# The intrinsics the official PeCLR release assumes for its 224 x 224 network input when no camera is
# given (``K_default`` of ``RN_25D_wMLPref`` in github.com/dahiyaaneesh/peclr, src/models/rn_25D_wMLPref.py).
PECLR_DEFAULT_K_224 = ((388.9018310596544, 0.0, 112.0), (0.0, 388.71231836584275, 112.0), (0.0, 0.0, 1.0))
# Default reference-bone length (FreiHAND's ``scale``, joints 9 -> 10), metres: the middle-finger MCP -> PIP
# bone of the average hand of :mod:`peclr_lab.synthetic` (MANO-like proportions; the mean of the demo's
# 2,000 synthetic training samples is 0.0310 m). Used only when a sample carries no ``hand_scale``.
DEFAULT_HAND_SCALE = 0.031


def default_input_K(input_size: Tuple[int, int]) -> np.ndarray:
    """(3, 3) intrinsics of a ``(w, h)`` network input: :data:`PECLR_DEFAULT_K_224` scaled to that size
    (focal lengths times ``w / 224`` and ``h / 224``, principal point at the input's centre)."""
    w, h = input_size
    K = np.array(PECLR_DEFAULT_K_224, np.float64)
    return np.diag([w / 224.0, h / 224.0, 1.0]) @ K


def flip_matrix(direction: str, img_shape: tuple) -> np.ndarray:
    """(3, 3) pixel map of mmpose's ``RandomFlip`` (``x -> w - 1 - x`` and/or ``y -> h - 1 - y``)."""
    h, w = img_shape[:2]
    m = np.eye(3)
    if direction in ('horizontal', 'diagonal'):
        m[0, 0], m[0, 2] = -1.0, w - 1.0
    if direction in ('vertical', 'diagonal'):
        m[1, 1], m[1, 2] = -1.0, h - 1.0
    if direction not in ('horizontal', 'vertical', 'diagonal'):
        raise ValueError(f'unknown flip direction {direction!r}')
    return m


@TRANSFORMS.register_module()
class TopdownAffine3D(TopdownAffine):
    """:class:`mmpose.datasets.TopdownAffine` that also carries the camera intrinsics into the crop.

    The pixel map from the original image to the network input is ``A = W F`` (``W`` the crop/scale/
    rotation warp, ``F`` the flip applied earlier by ``RandomFlip``, if any). Since projection commutes
    with it, the input is the image of the *unchanged* 3-D joints through ``K' = A K``: decoding a
    2.5-D prediction with ``K'`` returns joints in the original camera frame, in metres.

    Without a camera (single-image inference: no ``K`` in the results) the network input is given the
    default intrinsics ``default_K`` (PeCLR's: :func:`default_input_K`), ``K = A^-1 K'`` is set to match,
    and ``K_is_default`` is True: the 3-D decoding is then only meaningful root-relative. Likewise a
    missing ``hand_scale`` becomes ``default_hand_scale`` with ``hand_scale_is_default`` True. Data with
    K and scale (FreiHand3DDataset) are unchanged.

    Required keys: img, bbox_center, bbox_scale; optional: K (N, 3, 3), hand_scale (N,), bbox_rotation,
    keypoints, flip, flip_direction, keypoints_cam. Added keys: ``input_K`` (N, 3, 3) float64,
    ``input_affine`` (3, 3), ``K_is_default`` and ``hand_scale_is_default`` (bool) and those of
    ``TopdownAffine``. ``RandomFlip`` must come before this transform (as in mmpose's top-down
    pipelines); mirroring a hand needs no joint permutation, which is checked.

    Args:
        input_size (tuple): ``(w, h)`` of the network input.
        use_udp (bool): unbiased data processing, as ``TopdownAffine``.
        default_K (sequence, optional): intrinsics of the *network input* used when a sample has no K,
            as a 3 x 3 matrix or ``(fx, fy, cx, cy)``. Defaults to PeCLR's 224-px K scaled to
            ``input_size``.
        default_hand_scale (float): reference-bone length (metres) used when a sample has no
            ``hand_scale``. Defaults to :data:`DEFAULT_HAND_SCALE`.
    """

    def __init__(self, input_size: Tuple[int, int], use_udp: bool = False,
                 default_K: Sequence | None = None, default_hand_scale: float = DEFAULT_HAND_SCALE) -> None:
        super().__init__(input_size=input_size, use_udp=use_udp)
        self.default_K = default_input_K(input_size) if default_K is None else as_intrinsics(default_K)
        if not (np.isfinite(default_hand_scale) and default_hand_scale > 0):
            raise ValueError(f'TopdownAffine3D: default_hand_scale must be a positive length, got '
                             f'{default_hand_scale}')
        self.default_hand_scale = float(default_hand_scale)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size!r}, use_udp={self.use_udp!r}, '
                f'default_K={self.default_K.tolist()!r}, default_hand_scale={self.default_hand_scale!r})')

    def transform(self, results: Dict) -> dict | None:
        img_shape = results['img'][0].shape if isinstance(results['img'], list) else results['img'].shape
        num = len(results['bbox_center'])
        results['K_is_default'] = 'K' not in results
        results['hand_scale_is_default'] = 'hand_scale' not in results
        if results['hand_scale_is_default']:
            results['hand_scale'] = np.full(num, self.default_hand_scale)
        flip = np.eye(3)
        if results.get('flip', False):
            flip_indices = results.get('flip_indices')
            if flip_indices is not None and list(flip_indices) != list(range(len(flip_indices))):
                raise ValueError('TopdownAffine3D: flipping with non-identity flip_indices would '
                                 'permute 2-D joints but not keypoints_cam')
            flip = flip_matrix(results['flip_direction'], img_shape)
        results = super().transform(results)
        w, h = self.input_size
        rot = float(results['bbox_rotation'][0]) if 'bbox_rotation' in results else 0.0
        warp_fn = get_udp_warp_matrix if self.use_udp else get_warp_matrix
        warp = warp_fn(results['input_center'], results['input_scale'], rot, output_size=(w, h))
        affine = to_homogeneous(warp) @ flip
        results['input_affine'] = affine
        if results['K_is_default']:
            results['input_K'] = np.repeat(self.default_K[None], num, axis=0)
            results['K'] = np.einsum('ij,njk->nik', np.linalg.inv(affine), results['input_K'])
        else:
            results['input_K'] = np.einsum('ij,njk->nik', affine, np.asarray(results['K'], np.float64))
        return results


@TRANSFORMS.register_module()
class PackHand3DInputs(PackPoseInputs):
    """:class:`mmpose.datasets.PackPoseInputs` that also packs the 3-D hand fields.

    Added to ``gt_instances`` (kept as numpy): ``K`` (N, 3, 3) original intrinsics, ``input_K`` (N, 3, 3)
    intrinsics of the network input, ``hand_scale`` (N,) reference bone length in metres, and (as
    upstream) ``keypoints_cam`` (N, K, 3) in metres. Added to ``gt_instance_labels``: ``root_depth``.
    Added meta keys: ``sample_id`` (index in the annotation files), ``version``, and ``K_is_default`` /
    ``hand_scale_is_default`` (:class:`TopdownAffine3D` used a default camera / bone length).

    Args:
        meta_keys (Sequence[str]): meta information keys. Defaults to ``PackPoseInputs``'s plus
            ``sample_id``, ``version``, ``K_is_default`` and ``hand_scale_is_default``.
        pack_transformed (bool): also pack the transformed keypoints, as ``PackPoseInputs``.
            Defaults to False.
    """

    instance_mapping_table = dict(PackPoseInputs.instance_mapping_table, K='K', input_K='input_K',
                                  hand_scale='hand_scale')
    label_mapping_table = dict(PackPoseInputs.label_mapping_table, root_depth='root_depth')

    def __init__(self, meta_keys=('id', 'img_id', 'img_path', 'category_id', 'ori_shape', 'img_shape',
                                  'input_size', 'input_center', 'input_scale', 'flip', 'flip_direction',
                                  'flip_indices', 'raw_ann_info', 'dataset_name', 'sample_id', 'version',
                                  'K_is_default', 'hand_scale_is_default'),
                 pack_transformed: bool = False):
        super().__init__(meta_keys=meta_keys, pack_transformed=pack_transformed)

    def transform(self, results: dict) -> dict:
        # A codec's tables replace the packer's defaults upstream; merge them so 3-D fields always pack.
        for name in ('instance_mapping_table', 'label_mapping_table'):
            if name in results:
                results[name] = dict(getattr(self, name), **results[name])
        return super().transform(results)
