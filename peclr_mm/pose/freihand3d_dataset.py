"""``FreiHand3DDataset``: the official FreiHAND release (3-D joints, intrinsics, scale) for mmpose."""
from __future__ import annotations

import os.path as osp
from typing import Callable, List, Sequence

import numpy as np
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.registry import DATASETS

from peclr_mm.freihand import ANNOTATIONS, check_versions, read_split
from peclr_mm.freihand import VERSIONS as FREIHAND_VERSIONS
from peclr_mm.geometry import NUM_JOINTS, SKELETON

_NAMES = ['wrist'] + [f'{finger}{j}' for finger in ('thumb', 'forefinger', 'middle_finger', 'ring_finger',
                                                    'pinky_finger') for j in range(1, 5)]
_COLORS = [[255, 255, 255]] + [c for c in ([255, 128, 0], [255, 153, 255], [102, 178, 255], [255, 51, 51],
                                           [0, 255, 0]) for _ in range(4)]

# FreiHAND's 21-joint order (0 wrist; 1-4 thumb, 5-8 index, 9-12 middle, 13-16 ring, 17-20 little; tips
# last) and skeleton, in mmpose's metainfo format (names and colours as mmpose's 2-D FreiHAND).
FREIHAND3D_METAINFO = dict(
    dataset_name='freihand3d',
    paper_info=dict(
        author='Zimmermann, Christian and Ceylan, Duygu and Yang, Jimei and Russell, Bryan and '
        'Argus, Max and Brox, Thomas',
        title='FreiHAND: A Dataset for Markerless Capture of Hand Pose and Shape from Single RGB Images',
        container='Proceedings of the IEEE International Conference on Computer Vision', year='2019',
        homepage='https://lmb.informatik.uni-freiburg.de/projects/freihand/'),
    keypoint_info={i: dict(name=n, id=i, color=c, type='', swap='')
                   for i, (n, c) in enumerate(zip(_NAMES, _COLORS))},
    skeleton_info={i: dict(link=(_NAMES[a], _NAMES[b]), id=i, color=_COLORS[b])
                   for i, (a, b) in enumerate(SKELETON)},
    joint_weights=[1.0] * NUM_JOINTS,
    # OKS sigmas of COCO-WholeBody hands (same joint order), so mmpose's OKS-based metrics apply. Not
    # empty on purpose: an empty array in a checkpoint's dataset_meta pickles (protocol 2) a
    # ``builtins.bytes`` global, which torch's weights_only loading refuses.
    sigmas=[0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024, 0.022, 0.026,
            0.017, 0.021, 0.021, 0.032, 0.02, 0.019, 0.022, 0.031])


@DATASETS.register_module()
class FreiHand3DDataset(BaseCocoStyleDataset):
    """FreiHAND (Zimmermann et al., ICCV 2019) with 3-D annotations, read from the official release.

    Layout under ``data_root`` (as downloaded)::

        training_xyz.json  training_K.json  training_scale.json  [training_mano.json]
        training/rgb/%08d.jpg          # 4 versions: image = sample + N * version
        evaluation_xyz.json  evaluation_K.json  evaluation_scale.json  [evaluation_verts.json]
        evaluation/rgb/%08d.jpg

    Each data sample (top-down, one hand) carries ``keypoints`` (1, 21, 2) = projection of ``xyz`` with
    ``K``, ``keypoints_visible`` (1, 21), ``keypoints_cam`` (1, 21, 3) metres, ``K`` (1, 3, 3),
    ``hand_scale`` (1,) (FreiHAND's ``scale``: length of bone 9-10, metres), ``bbox`` (1, 4) xyxy,
    ``sample_id`` (row in the json files; mmengine's ``sample_idx`` is the dataset index) and ``version``.

    Args:
        data_root (str): the release folder.
        split (str): ``'train'`` / ``'val'`` (a deterministic partition of the training *samples*, all
            versions of a sample on the same side) or ``'test'`` (the evaluation split).
        versions (sequence[str], optional): training versions among ``('gs', 'hom', 'sample',
            'auto')``; defaults to all four. Not allowed for ``'test'`` (one version).
        val_ratio (float): fraction of unique training samples held out as ``'val'``.
        split_seed (int): seed of the train/val partition (the same for both splits).
        label_fraction (float): for ``'train'``, keep labels for this fraction of the unique training
            samples (the paper's semi-supervised protocol), chosen by ``seed``.
        seed (int): seed of the label-fraction subset.
        bbox_mode (str): ``'image'`` (the whole ``image_size`` image, as mmpose's 2-D FreiHAND: fair
            at test time) or ``'keypoints'`` (tight box of the projected joints).
        image_size (tuple, optional): ``(w, h)`` of the images; None (default) reads it from the files
            (every image's header: they must share one size). Given, it must match the files.
        pipeline (list[dict | Callable], optional): data pipeline, as mmengine's ``BaseDataset``.
        test_mode (bool): as mmengine's ``BaseDataset``. Defaults to False.
        metainfo (dict, optional): meta information, as mmengine's ``BaseDataset``.
        indices (int | Sequence[int], optional): keep only these items, as mmengine's ``BaseDataset``.
        serialize_data (bool): as mmengine's ``BaseDataset``. Defaults to True.
        lazy_init (bool): as mmengine's ``BaseDataset``. Defaults to False.
        max_refetch (int): as mmengine's ``BaseDataset``. Defaults to 1000.

    Every file is validated on load by :func:`peclr_mm.freihand.read_split` (images named ``%08d.jpg`` and of one size,
    lengths of xyz/K/scale and images agree, shapes 21x3 / 3x3 / scalar, finite values, invertible upper
    triangular K with the principal point in the image, positive depth and scale; implausible scales and
    hands outside the image are warned about); a failure raises
    :class:`~peclr_mm.freihand.FreiHandFormatError` naming the file, the field and the sample index.
    """

    METAINFO: dict = FREIHAND3D_METAINFO
    VERSIONS = FREIHAND_VERSIONS

    def __init__(self,
                 data_root: str = 'data/freihand/',
                 split: str = 'train',
                 versions: Sequence[str] | None = None,
                 val_ratio: float = 0.1,
                 split_seed: int = 0,
                 label_fraction: float = 1.0,
                 seed: int = 0,
                 bbox_mode: str = 'image',
                 image_size: Sequence[int] | None = None,
                 pipeline: List[dict | Callable] | None = None,
                 test_mode: bool = False,
                 metainfo: dict | None = None,
                 indices: int | Sequence[int] | None = None,
                 serialize_data: bool = True,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        if split not in ('train', 'val', 'test'):
            raise ValueError(f"FreiHand3DDataset: split must be 'train', 'val' or 'test', got {split!r}")
        if split == 'test' and versions is not None:
            raise ValueError("FreiHand3DDataset: the evaluation split has a single version; leave "
                             "versions=None for split='test'")
        versions = check_versions(self.VERSIONS if versions is None else versions, 'FreiHand3DDataset')
        if not 0.0 <= val_ratio < 1.0 or (split == 'val' and val_ratio == 0.0):
            raise ValueError(f"FreiHand3DDataset: val_ratio must be in [0, 1) (> 0 for 'val'), got {val_ratio}")
        if not 0.0 < label_fraction <= 1.0:
            raise ValueError(f'FreiHand3DDataset: label_fraction must be in (0, 1], got {label_fraction}')
        if label_fraction < 1.0 and split != 'train':
            raise ValueError("FreiHand3DDataset: label_fraction applies to split='train' only")
        if bbox_mode not in ('image', 'keypoints'):
            raise ValueError(f"FreiHand3DDataset: bbox_mode must be 'image' or 'keypoints', got {bbox_mode!r}")
        self.split, self.versions = split, versions
        self.val_ratio, self.split_seed = val_ratio, split_seed
        self.label_fraction, self.seed = label_fraction, seed
        self.bbox_mode = bbox_mode
        self.image_size = None if image_size is None else tuple(image_size)
        super().__init__(ann_file='', data_mode='topdown', metainfo=metainfo, data_root=data_root,
                         data_prefix=dict(img=''), indices=indices, serialize_data=serialize_data,
                         pipeline=pipeline or [], test_mode=test_mode, lazy_init=lazy_init,
                         max_refetch=max_refetch)

    # ------------------------------------------------------------------ loading
    def _select_samples(self, n: int) -> np.ndarray:
        """Unique sample indices of this split (sorted)."""
        if self.split == 'test':
            return np.arange(n)
        n_val = int(round(self.val_ratio * n))
        if self.val_ratio > 0:
            n_val = min(max(n_val, 1), n - 1)
        perm = np.random.default_rng(self.split_seed).permutation(n)
        ids = np.sort(perm[:n_val] if self.split == 'val' else perm[n_val:])
        if self.split == 'train' and self.label_fraction < 1.0:
            n_lab = max(1, int(round(self.label_fraction * len(ids))))
            ids = np.sort(np.random.default_rng(self.seed).choice(ids, n_lab, replace=False))
        return ids

    def load_data_list(self) -> List[dict]:
        """Read, validate and expand the annotations into one data info per (sample, version)."""
        data = read_split(self.data_root or '', 'evaluation' if self.split == 'test' else 'training', ANNOTATIONS,
                          self.image_size)
        xyz, K, scale = data.annotations['xyz'], data.annotations['K'], data.annotations['scale']
        n = data.num_samples
        version_ids = [0] if self.split == 'test' else [self.VERSIONS.index(v) for v in self.versions]
        samples = self._select_samples(n)
        pairs = [(int(i), v) for v in version_ids for i in samples]
        image_ids = np.array([i + n * v for i, v in pairs], dtype=np.int64)
        rgb_dir = data.layout.rgb_dir
        uv, boxes = data.keypoints, data.boxes
        w, h = data.size
        data_list = []
        for (i, v), img_id in zip(pairs, image_ids):
            if self.bbox_mode == 'image':
                bbox = np.array([[0, 0, w, h]], dtype=np.float32)
            else:
                bbox = boxes[i:i + 1].copy()
            data_list.append(dict(
                id=int(img_id), img_id=int(img_id), img_path=osp.join(rgb_dir, f'{img_id:08d}.jpg'),
                sample_id=i, version='eval' if self.split == 'test' else self.VERSIONS[v],
                category_id=1, iscrowd=0, num_keypoints=NUM_JOINTS,
                bbox=bbox, bbox_score=np.ones(1, dtype=np.float32),
                keypoints=uv[i][None].astype(np.float32),
                keypoints_visible=np.ones((1, NUM_JOINTS), dtype=np.float32),
                keypoints_cam=xyz[i][None].copy(), K=K[i][None].copy(),
                hand_scale=scale[i:i + 1].copy()))
        return data_list
