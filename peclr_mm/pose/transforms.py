"""Camera-consistent top-down transforms: the intrinsics follow every image-space affine (K' = A K)."""
from __future__ import annotations

from typing import Dict

import numpy as np
from mmpose.datasets.transforms import PackPoseInputs, TopdownAffine
from mmpose.registry import TRANSFORMS
from mmpose.structures.bbox import get_udp_warp_matrix, get_warp_matrix

from peclr_mm.geometry import to_homogeneous


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

    Required keys: img, bbox_center, bbox_scale, K (N, 3, 3); optional: bbox_rotation, keypoints, flip,
    flip_direction, keypoints_cam. Added keys: ``input_K`` (N, 3, 3) float64, ``input_affine`` (3, 3)
    and those of ``TopdownAffine``. ``RandomFlip`` must come before this transform (as in mmpose's
    top-down pipelines); mirroring a hand needs no joint permutation, which is checked.
    """

    def transform(self, results: Dict) -> dict | None:
        img_shape = results['img'][0].shape if isinstance(results['img'], list) else results['img'].shape
        if 'K' not in results:
            raise KeyError('TopdownAffine3D needs the camera intrinsics "K" in the results (use '
                           'FreiHand3DDataset or add K (N, 3, 3) to your data infos)')
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
        results['input_K'] = np.einsum('ij,njk->nik', affine, np.asarray(results['K'], np.float64))
        return results


@TRANSFORMS.register_module()
class PackHand3DInputs(PackPoseInputs):
    """:class:`mmpose.datasets.PackPoseInputs` that also packs the 3-D hand fields.

    Added to ``gt_instances`` (kept as numpy): ``K`` (N, 3, 3) original intrinsics, ``input_K`` (N, 3, 3)
    intrinsics of the network input, ``hand_scale`` (N,) reference bone length in metres, and (as
    upstream) ``keypoints_cam`` (N, K, 3) in metres. Added to ``gt_instance_labels``: ``root_depth``.
    Added meta keys: ``sample_id`` (index in the annotation files) and ``version``.
    """

    instance_mapping_table = dict(PackPoseInputs.instance_mapping_table, K='K', input_K='input_K',
                                  hand_scale='hand_scale')
    label_mapping_table = dict(PackPoseInputs.label_mapping_table, root_depth='root_depth')

    def __init__(self, meta_keys=('id', 'img_id', 'img_path', 'category_id', 'ori_shape', 'img_shape',
                                  'input_size', 'input_center', 'input_scale', 'flip', 'flip_direction',
                                  'flip_indices', 'raw_ann_info', 'dataset_name', 'sample_id', 'version'),
                 pack_transformed: bool = False):
        super().__init__(meta_keys=meta_keys, pack_transformed=pack_transformed)

    def transform(self, results: dict) -> dict:
        # A codec's tables replace the packer's defaults upstream; merge them so 3-D fields always pack.
        for name in ('instance_mapping_table', 'label_mapping_table'):
            if name in results:
                results[name] = dict(getattr(self, name), **results[name])
        return super().transform(results)
