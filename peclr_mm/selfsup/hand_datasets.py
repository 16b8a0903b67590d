"""Unlabeled hand-image datasets for pretraining (mmpretrain ``DATASETS``).

Each item is ``dict(img_path, hand_bbox, flip_left, sample_idx)``: ``hand_bbox`` (x1, y1, x2, y2, source
pixels) centres :class:`TrackedCrop`; ``flip_left`` mirrors left hands to right ones. FreiHAND and YouTube 3D
Hands items also carry ``hand_keypoints``: float32 (K, 2) source pixels (x, y), *unflipped*, the 2-D points
around which the official PeCLR release crops its views (centre ``int(mean)``, side from their max radius;
``SampleAugmenter.get_crop_size``); a view transform mirrors them (``x -> W - x``) with ``flip_left``. Images
are read by the pipeline (:class:`LoadHandImage`). A source with no image is an error when the dataset is
built.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import List, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS, TRANSFORMS

from peclr_mm.freihand import (
    IMAGE_EXTENSIONS,
    FreiHandFormatError,
    annotation_file,
    check_versions,
    load_json,
    read_split,
)
from peclr_mm.freihand import VERSIONS as FREIHAND_VERSIONS

# MANO vertices of the fingertips (thumb, index, middle, ring, pinky) that the release appends to the 16
# regressed MANO joints (``get_joints_from_mano_mesh``, data_loader/utils.py).
MANO_TIP_VERTICES = (744, 320, 443, 555, 672)
MANO_REGRESSED_JOINTS = 16


def pseudo_keypoints(image_size: float, scale: float = 0.33) -> np.ndarray:
    """The release's 21 pseudo keypoints of an unlabelled FreiHAND image, (21, 2) float32 pixels.

    ``F_DB.create_sudo_bound_box`` (data_loader/freihand_loader.py): point 0 is the image centre
    ``c = image_size / 2`` (the release hard-codes 224), then 5 copies each of ``c + (s, s)``,
    ``c + (-s, s)``, ``c + (s, -s)``, ``c + (-s, -s)`` with ``s = scale * image_size / 2``.

    The release lifts them to 3-D with ``convert_2_5D_to_3D(points, scale=1.0, K)`` and projects them back
    (``convert_to_2_5D`` in data_loader/data_set.py). That round trip is the identity on (x, y) for every K
    whose last row is (0, 0, 1), as FreiHAND's are: the 3-D point is ``Z * K^-1 (x, y, 1)`` and its
    projection ``K (Z K^-1 (x, y, 1)) / Z`` (the depth Z cancels, whatever root depth the release solves
    for; checked numerically against the release's code). So the points are used directly, without K.
    """
    c = image_size / 2.0
    s = image_size / 2.0 * scale
    offsets = [(0.0, 0.0)] + [(s, s)] * 5 + [(-s, s)] * 5 + [(s, -s)] * 5 + [(-s, -s)] * 5
    return (np.asarray(offsets, np.float64) + c).astype(np.float32)


class _HandImages(BaseDataset):
    """Shared base: builds the pipeline with mmpretrain's registry (so it works outside a Runner)."""

    def __init__(self, data_root: str, pipeline: Sequence = (), indices=None, lazy_init: bool = False,
                 **kwargs) -> None:
        if not osp.isdir(data_root):
            raise FileNotFoundError(f'{data_root}: data_root is not a directory')
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(data_root=data_root, pipeline=pipeline, indices=indices, lazy_init=lazy_init,
                         serialize_data=kwargs.pop('serialize_data', True), **kwargs)

    def _check_nonempty(self, data_list: List[dict], what: str) -> List[dict]:
        if not data_list:
            raise ValueError(f'{self.__class__.__name__}: empty dataset: no images found in {what}')
        return data_list


@DATASETS.register_module()
class FreiHandImages(_HandImages):
    """FreiHAND training images, no labels: ``training/rgb/%08d.jpg``.

    Image ``i`` of version ``v`` is file ``i + num_samples * v`` (``gs, hom, sample, auto`` = 0..3; 32560
    samples in the release). ``num_samples`` is the length of ``training_K.json`` (or ``training_xyz.json``);
    without either, the number of files divided by 4.

    The hand box (``bbox_mode``): ``'keypoints'`` is the tight box of the joints projected with K, as the
    official loader crops training samples (``F_DB`` keeps their labels for the crop); ``'pseudo'`` is the
    release's centred pseudo box of half-size ``bbox_scale * image_size / 2``, which it uses only where no
    labels exist (the evaluation split); ``image_size`` is the side of the (square) images, read from the
    files (224 for the release). ``'auto'`` (default) takes ``'keypoints'`` when both
    ``training_xyz.json`` and ``training_K.json`` exist, else ``'pseudo'``.

    ``hand_keypoints`` (float32 (21, 2), source pixels, the same for the 4 versions of a sample) follows the
    box mode: ``'keypoints'``: the 21 joints projected with K (the release's ``(K @ xyz.T).T / z``);
    ``'pseudo'``: the release's 21 pseudo points (:func:`pseudo_keypoints` of ``image_size`` and
    ``bbox_scale``; centre ``image_size / 2`` where ``hand_bbox`` is centred on ``(image_size - 1) / 2``).
    They are kept once per sample (pseudo: once) and attached by :meth:`get_data_info`, so the 4 versions
    share them and the serialized data list does not repeat them; ``sample_id`` is the sample's row in the
    json files (mmengine overwrites ``sample_idx`` with the dataset index).

    Args:
        data_root (str): FreiHAND folder.
        versions (Sequence[str]): subset of ``('gs', 'hom', 'sample', 'auto')``.
        pipeline (Sequence[dict]): data pipeline.
        indices (int | Sequence[int], optional): keep only these items (mmengine semantics).
        image_size (int, optional): side of the square images, for the pseudo box; None (default) reads
            it from the files (every image's header: they must share one size). Given, it must match them.
        bbox_mode (str): ``'auto'``, ``'keypoints'`` or ``'pseudo'`` (see above).
        bbox_scale (float): official pseudo-box scale (``BOUND_BOX_SCALE``). Defaults to 0.33.
    """

    BBOX_MODES = ('auto', 'keypoints', 'pseudo')

    def __init__(self, data_root: str, versions: Sequence[str] = FREIHAND_VERSIONS, pipeline: Sequence = (),
                 indices=None, image_size: int | None = None, bbox_mode: str = 'auto', bbox_scale: float = 0.33,
                 **kwargs) -> None:
        if bbox_mode not in self.BBOX_MODES:
            raise ValueError(f'unknown bbox_mode {bbox_mode!r}; valid: {list(self.BBOX_MODES)}')
        self.bbox_mode = bbox_mode
        self.versions = check_versions(versions, 'FreiHandImages')
        self.image_size = image_size
        self.bbox_scale = bbox_scale
        self._keypoints = None  # (N, 21, 2) or, pseudo, (21, 2) float32: set by load_data_list
        super().__init__(data_root=data_root, pipeline=pipeline, indices=indices, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Images paired with their samples by :func:`peclr_mm.freihand.read_split`: with annotations,
        exactly ``4 x N`` images must exist for their ``N`` samples; without, the files must be ``4 x N``
        consecutively numbered images."""
        fields = tuple(f for f in ('xyz', 'K') if osp.exists(annotation_file(self.data_root, 'training', f)))
        if self.bbox_mode == 'keypoints' and len(fields) < 2:
            raise FreiHandFormatError(f"{self.data_root}: bbox_mode='keypoints' needs training_xyz.json and "
                                      'training_K.json')
        split = read_split(self.data_root, 'training', fields, self.image_size)
        layout, n, size = split.layout, split.num_samples, split.size
        if self.bbox_mode != 'pseudo' and split.boxes is not None:  # 'keypoints', or 'auto' with xyz and K
            boxes = split.boxes
            self._keypoints = split.keypoints.astype(np.float32)
        else:
            if size[0] != size[1]:
                raise FreiHandFormatError(f'{layout.rgb_dir}: images are {size[0]}x{size[1]}; the pseudo box '
                                          "needs square images (FreiHAND's are 224x224)")
            side = size[0]
            half = self.bbox_scale * side / 2
            c = (side - 1) / 2
            boxes = np.tile(np.array([c - half, c - half, c + half, c + half], np.float32), (n, 1))
            self._keypoints = pseudo_keypoints(side, self.bbox_scale)
        data_list = []
        for v in self.versions:
            offset = n * FREIHAND_VERSIONS.index(v)
            for i in range(n):
                data_list.append(dict(img_path=osp.join(layout.rgb_dir, f'{i + offset:08d}.jpg'),
                                      hand_bbox=boxes[i], flip_left=False, sample_idx=i, sample_id=i,
                                      version=v))
        return self._check_nonempty(data_list, layout.rgb_dir)

    def get_data_info(self, idx: int) -> dict:
        """mmengine's data info plus ``hand_keypoints`` of its sample (a copy: transforms may edit it)."""
        info = super().get_data_info(idx)
        kp = self._keypoints
        info['hand_keypoints'] = (kp if kp.ndim == 2 else kp[info['sample_id']]).copy()
        return info


@DATASETS.register_module()
class YouTube3DHands(_HandImages):
    """YouTube 3D Hands frames, cropped around each annotated hand (one item per hand annotation).

    ``ann_file`` is the release's ``youtube_{train,val,test}.json`` (``images``: ``id, name``;
    ``annotations``: ``image_id, is_left, vertices`` (778 x 3, xy in image pixels)). The hand box is the
    square centred on the mesh's mean whose half-diagonal is the mesh's max radius, so :class:`TrackedCrop`
    crops ``2 x radius x margin`` as the official loader (which uses 21 MANO keypoints); left hands are
    mirrored (as the official loader does). Frames listed as ``.png`` are
    looked up as ``.jpg`` when the png is absent (the official extraction stores jpgs); annotations whose
    frame is missing are skipped when ``skip_missing`` (the official loader drops them too).

    ``hand_keypoints`` (float32, source pixels, unflipped: ``flip_left`` says whether to mirror) are the
    release's crop points. With ``joint_regressor`` (the release's
    ``src/data_loader/mano_mesh_to_joints_mat.pth``, MANO's (16, 778) joint regressor) they are its 21
    joints ``[J @ V, V[[744, 320, 443, 555, 672]]]`` (``get_joints_from_mano_mesh``), (21, 2), in MANO
    order (the release reorders them to its own order, which no crop sees).
    Without it they are all the mesh's vertices, (V, 2): a crop's centre and radius then come from the mesh,
    not from the 21 joints, and differ from the release's (MANO's regressor is not redistributed with this
    project; pass the release's file to match it). ``hand_bbox`` comes from the mesh either way.

    Args:
        data_root (str): dataset folder (image names are relative to it).
        ann_file (str): annotation json, relative to ``data_root`` or absolute.
        pipeline (Sequence[dict]): data pipeline.
        skip_missing (bool): drop annotations whose frame file is absent. Defaults to True.
        flip_left (bool): mirror left hands. Defaults to True.
        indices (int | Sequence[int], optional): keep only these items (mmengine semantics).
        joint_regressor (str, optional): a torch file holding the (16, V) mesh-to-joint regressor tensor
            (loaded weights-only). Defaults to None (keypoints = the mesh vertices).
    """

    def __init__(self, data_root: str, ann_file: str = 'youtube_train.json', pipeline: Sequence = (),
                 skip_missing: bool = True, flip_left: bool = True, indices=None,
                 joint_regressor: str | None = None, **kwargs) -> None:
        self.skip_missing = skip_missing
        self.flip_left = flip_left
        self.joint_regressor = joint_regressor
        super().__init__(data_root=data_root, pipeline=pipeline, indices=indices, ann_file=ann_file, **kwargs)

    def _load_regressor(self) -> np.ndarray | None:
        """The (16, V) regressor as float64, or None; a one-line error naming the file otherwise."""
        if self.joint_regressor is None:
            return None
        from peclr_mm.checkpoint import load_checkpoint  # imports torch: only when a regressor is asked for

        path = self.joint_regressor
        J = load_checkpoint(path)
        if getattr(J, 'is_sparse', False):
            J = J.to_dense()
        if hasattr(J, 'detach'):
            J = J.detach().cpu().double().numpy()
        try:
            J = np.asarray(J, np.float64)
        except (TypeError, ValueError):
            raise ValueError(f'{path}: joint regressor must be a (16, V) tensor, '
                             f'got {type(J).__name__}') from None
        if J.ndim != 2 or J.shape[0] != MANO_REGRESSED_JOINTS or J.shape[1] <= max(MANO_TIP_VERTICES):
            raise ValueError(f'{path}: joint regressor has shape {tuple(J.shape)}, expected '
                             f'({MANO_REGRESSED_JOINTS}, V) with V > {max(MANO_TIP_VERTICES)} the mesh '
                             'vertex count (MANO: 778)')
        if not np.isfinite(J).all():
            raise ValueError(f'{path}: joint regressor has non-finite values')
        return J

    def load_data_list(self) -> List[dict]:
        path = self.ann_file
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: annotation file not found')
        J = self._load_regressor()  # before the (large) annotation file: a bad regressor fails fast
        ann = load_json(path, 'annotations')  # malformed JSON: one line naming the file
        for field in ('images', 'annotations'):
            if not isinstance(ann, dict) or not isinstance(ann.get(field), list):
                raise ValueError(f'{path}: field "{field}" missing or not a list')
        names = {}
        for k, im in enumerate(ann['images']):
            if not isinstance(im, dict) or 'id' not in im or 'name' not in im:
                raise ValueError(f'{path}: images[{k}] needs "id" and "name"')
            names[im['id']] = im['name']
        data_list = []
        for k, a in enumerate(ann['annotations']):
            try:
                name = names[a['image_id']]
                verts = np.asarray(a['vertices'], np.float64)
                is_left = bool(a.get('is_left', 0))
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f'{path}: annotations[{k}] malformed ({e!r}); needs image_id, vertices') from e
            if verts.ndim != 2 or verts.shape[1] < 2 or not np.isfinite(verts[:, :2]).all():
                raise ValueError(f'{path}: annotations[{k}].vertices must be finite (V, 3), got {verts.shape}')
            img_path = osp.join(self.data_root, name)
            if not osp.exists(img_path) and name.endswith('.png'):
                alt = img_path[:-4] + '.jpg'
                img_path = alt if osp.exists(alt) else img_path
            if self.skip_missing and not osp.exists(img_path):
                continue
            # Official crop: centre = keypoint mean, side = 2 x max keypoint radius x margin. The 21 keypoints
            # need MANO's regressor (not shipped); we use the mesh: its mean, and its max radius (the
            # keypoints' max radius is attained at a fingertip, itself a mesh vertex, or is smaller).
            c = verts[:, :2].mean(0)
            r = np.linalg.norm(verts[:, :2] - c, axis=1).max() / np.sqrt(2)  # square box, half-diagonal = radius
            box = np.array([c[0] - r, c[1] - r, c[0] + r, c[1] + r], np.float32)
            if J is None:
                keypoints = verts[:, :2]
            elif J.shape[1] != len(verts):
                raise ValueError(f'{self.joint_regressor}: joint regressor has shape {J.shape} but {path} '
                                 f'annotations[{k}] has {len(verts)} vertices '
                                 f'(needs ({J.shape[0]}, {len(verts)}))')
            else:  # the release's 21 joints (get_joints_from_mano_mesh); only x, y matter for the crop
                keypoints = np.concatenate([J @ verts[:, :2], verts[list(MANO_TIP_VERTICES), :2]])
            # Box and keypoints stay in source pixels; TrackedCrop mirrors the nominal view of a left hand.
            data_list.append(dict(img_path=img_path, hand_bbox=box, flip_left=self.flip_left and is_left,
                                  sample_idx=k, hand_keypoints=keypoints.astype(np.float32)))
        return self._check_nonempty(data_list, f'{path} (frames under {self.data_root})')


@DATASETS.register_module()
class HandImageFolder(_HandImages):
    """Every image under ``data_root`` (recursive, sorted), assumed roughly hand-centred.

    Without a hand box, :class:`TrackedCrop` crops the image centre (side ``margin x max(H, W)``).

    Args:
        data_root (str): folder to scan.
        pipeline (Sequence[dict]): data pipeline.
        extensions (Sequence[str]): file suffixes to include (case-insensitive). Defaults to
            :data:`peclr_mm.freihand.IMAGE_EXTENSIONS`.
        indices (int | Sequence[int], optional): keep only these items (mmengine semantics).
    """

    def __init__(self, data_root: str, pipeline: Sequence = (), extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 indices=None, **kwargs) -> None:
        self.extensions = tuple(e.lower() for e in extensions)
        super().__init__(data_root=data_root, pipeline=pipeline, indices=indices, **kwargs)

    def load_data_list(self) -> List[dict]:
        files = []
        for root, dirs, names in os.walk(self.data_root):
            dirs.sort()
            files += [osp.join(root, n) for n in sorted(names) if n.lower().endswith(self.extensions)]
        data_list = [dict(img_path=p, flip_left=False, sample_idx=i) for i, p in enumerate(files)]
        return self._check_nonempty(data_list, f'{self.data_root} (extensions {self.extensions})')
