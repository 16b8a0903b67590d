"""``Regression25DHead``: pooled backbone features -> 2.5-D hand pose, optional z-root refinement."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData
from mmpose.evaluation.functional import keypoint_pck_accuracy
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.tta import flip_coordinates
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import OptConfigType, OptSampleList, Predictions
from torch import Tensor, nn

from peclr_mm.features import pool_features
from peclr_mm.pose.hand25d import Hand25D
from peclr_mm.pose.root_depth import rays_torch, root_depth_torch


def _field(data_sample, field: str):
    """``gt_instances.<field>`` of a data sample, else its metainfo ``<field>``, else None."""
    if 'gt_instances' in data_sample and field in data_sample.gt_instances:
        return data_sample.gt_instances.get(field)
    return data_sample.metainfo.get(field)


def _gather(batch_data_samples: Sequence, field: str, shape: Tuple[int, ...]) -> np.ndarray:
    """Concatenate a per-instance numpy field (``gt_instances`` or metainfo) over the batch as
    (N, *shape) float64, with a clear error if absent (TopdownAffine3D fills defaults for inference)."""
    values = [_field(d, field) for d in batch_data_samples]
    if all(v is not None for v in values):
        return np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1, *shape) for v in values])
    raise KeyError(f'Regression25DHead needs {field} in gt_instances or the metainfo of every data sample '
                   '(pack with PackHand3DInputs after TopdownAffine3D, which fills a default when absent)')


@MODELS.register_module()
class Regression25DHead(BaseHead):
    """2.5-D regression head (PeCLR's fine-tuning model, ``RN_25D_wMLPref`` of the official code).

    A linear layer maps globally pooled features (B, C) to (B, K, 3) = normalised ``(u, v)`` in the
    network input and root-relative depth over the bone length ``z_rel / s`` (the root's is fixed to 0).
    The absolute root depth comes in closed form from ``input_K`` and ``s`` (:class:`Hand25D`); with
    ``refine_root=True`` a small MLP (as Iqbal et al. / the official ``ZrootMLP_ref``: 64 -> 128 -> 128
    -> 1 with BatchNorm and LeakyReLU) adds a residual to it, from ``(z_rel, ray xy, root)``.

    Losses: ``loss_uv`` and ``loss_z``: ``loss`` (default L1 with per-joint weights) on ``(u, v)`` and on
    ``z_rel / s``; ``loss_root`` (refinement only): ``root_loss`` on ``z_root / s``. ``predict`` returns
    per sample an ``InstanceData`` with ``keypoints`` (1, K, 2) in input pixels (mapped to image pixels
    by ``TopdownPoseEstimator``, so mmpose's 2-D metrics and visualisers work), ``keypoint_scores``
    (1, K) and ``keypoints_cam`` (1, K, 3): joints in the original camera frame, metres.

    Args:
        in_channels (int): channels of the last feature map (pooled here if 4-D).
        num_joints (int): K. Defaults to 21.
        loss (dict, optional): keypoint loss config. Defaults to ``L1Loss`` with target weights.
        z_loss_weight (float): weight of ``loss_z`` relative to ``loss_uv``.
        refine_root (bool): add the z-root refinement MLP.
        root_hidden (int): hidden width of the MLP.
        root_clamp (tuple): clamp of the closed-form root depth (units of ``s``) fed to the MLP.
        root_loss (dict, optional): loss on the refined root depth. Defaults to ``L1Loss``.
        decoder (dict): a :class:`Hand25D` codec config (needed for ``predict`` and ``refine_root``);
            the head takes its ``root_index`` and ``scale_bone`` (without one, those of a default Hand25D).
        init_cfg (dict, optional): initialisation; defaults to N(0, 0.01) for linear layers.
    """

    def __init__(self,
                 in_channels: int,
                 num_joints: int = 21,
                 loss: OptConfigType = None,
                 z_loss_weight: float = 1.0,
                 refine_root: bool = False,
                 root_hidden: int = 128,
                 root_clamp: Tuple[float, float] = (4.0, 50.0),
                 root_loss: OptConfigType = None,
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        if init_cfg is None:
            init_cfg = self.default_init_cfg
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.num_joints = num_joints
        self.loss_module = MODELS.build(loss or dict(type='L1Loss', use_target_weight=True))
        self.z_loss_weight = z_loss_weight
        self.decoder = KEYPOINT_CODECS.build(decoder) if decoder is not None else None
        if refine_root and self.decoder is None:
            raise ValueError('Regression25DHead(refine_root=True) needs a Hand25D decoder (input size)')
        # The root joint and the reference bone are the codec's (a default Hand25D's without a decoder).
        codec = self.decoder if self.decoder is not None else Hand25D()
        self.root_index = codec.root_index
        self.scale_bone = codec.scale_bone
        self.fc = nn.Linear(in_channels, num_joints * 3)
        self.refine_root = refine_root
        self.root_clamp = tuple(root_clamp)
        if refine_root:
            self.root_mlp = nn.Sequential(
                nn.Linear(num_joints * 3 + 1, root_hidden), nn.BatchNorm1d(root_hidden), nn.LeakyReLU(),
                nn.Linear(root_hidden, root_hidden), nn.BatchNorm1d(root_hidden), nn.LeakyReLU(),
                nn.Linear(root_hidden, 1))
            self.root_loss_module = MODELS.build(root_loss or dict(type='L1Loss'))

    def forward(self, feats: Tensor | Tuple[Tensor]) -> Tensor:
        """Features (last of a tuple; (B, C, H, W) or (B, C)) -> (B, K, 3) normalised 2.5-D pose, float32
        (also under bfloat16 autocast: the labels, losses and decoding stay in float32)."""
        out = self.fc(pool_features(feats)).float().view(-1, self.num_joints, 3)
        keep = torch.ones(self.num_joints, 3, device=out.device, dtype=out.dtype)
        keep[self.root_index, 2] = 0  # the root's relative depth is 0 by definition
        return out * keep

    def refine(self, pose25d: Tensor, input_K: Tensor) -> Tensor:
        """Refined scale-normalised root depth (B,) from the 2.5-D pose (B, K, 3) and ``K'`` (B, 3, 3)."""
        w, h = self.decoder.input_size
        uv = pose25d[..., :2] * pose25d.new_tensor([w, h])
        rays = rays_torch(uv, input_K.to(pose25d))
        zrel = pose25d[..., 2]
        root = root_depth_torch(rays, zrel, self.scale_bone).detach().clamp(*self.root_clamp)
        mlp_in = torch.cat([zrel, rays[..., :2].flatten(1), root[:, None]], dim=1)
        return root + self.root_mlp(mlp_in).view(-1)

    def loss(self, feats: Tuple[Tensor], batch_data_samples: OptSampleList,
             train_cfg: OptConfigType = None) -> dict:
        """L1 on (u, v) and z_rel / s with per-joint weights, plus the root loss when refining."""
        pred = self.forward(feats)
        labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in batch_data_samples]).to(pred)
        weights = torch.cat([d.gt_instance_labels.keypoint_weights for d in batch_data_samples]).to(pred)
        losses = dict(loss_uv=self.loss_module(pred[..., :2], labels[..., :2], weights),
                      loss_z=self.loss_module(pred[..., 2:], labels[..., 2:], weights) * self.z_loss_weight)
        if self.refine_root:
            input_K = torch.as_tensor(_gather(batch_data_samples, 'input_K', (3, 3)), device=pred.device)
            root = self.refine(pred, input_K)
            gt_root = torch.cat([d.gt_instance_labels.root_depth for d in batch_data_samples]).to(pred)
            losses['loss_root'] = self.root_loss_module(root[:, None], gt_root.view(-1, 1))
        _, avg_acc, _ = keypoint_pck_accuracy(
            pred=to_numpy(pred[..., :2]), gt=to_numpy(labels[..., :2]), mask=to_numpy(weights) > 0,
            thr=0.05, norm_factor=np.ones((pred.size(0), 2), dtype=np.float32))
        losses['acc_pose'] = torch.tensor(avg_acc, device=pred.device)
        return losses

    def predict(self, feats: Tuple[Tensor] | List[Tuple[Tensor]], batch_data_samples: OptSampleList,
                test_cfg: OptConfigType = None) -> Predictions:
        """Decode to 3-D (metres, original camera frame) and 2-D (input pixels) keypoints.

        Needs no ground truth: ``input_K`` (N, 3, 3) and ``hand_scale`` (N,) are read from each data
        sample's ``gt_instances``, else its metainfo; :class:`TopdownAffine3D` fills defaults for
        samples without a camera or bone length (marked ``K_is_default`` / ``hand_scale_is_default``).
        """
        if self.decoder is None:
            raise RuntimeError('Regression25DHead.predict needs a Hand25D decoder config')
        if (test_cfg or {}).get('flip_test', False):
            # feats = [original, horizontally flipped input]: mirror u back (x -> w - 1 - x in pixels,
            # mmpose's shifted flip of normalised coordinates) and average; depth is unchanged
            _feats, _feats_flip = feats
            pred = self.forward(_feats)
            flip_indices = batch_data_samples[0].metainfo.get('flip_indices', list(range(self.num_joints)))
            flipped = flip_coordinates(self.forward(_feats_flip), flip_indices=flip_indices,
                                       shift_coords=True, input_size=self.decoder.input_size)
            pred = (pred + flipped) * 0.5
        else:
            pred = self.forward(feats)
        input_K = _gather(batch_data_samples, 'input_K', (3, 3))
        hand_scale = _gather(batch_data_samples, 'hand_scale', ())
        root = None
        if self.refine_root:
            root = to_numpy(self.refine(pred, torch.as_tensor(input_K, device=pred.device)))
        xyz, uv = self.decoder.decode(to_numpy(pred), input_K, hand_scale, root)
        return [InstanceData(keypoints=uv[i:i + 1].copy(), keypoint_scores=np.ones((1, self.num_joints)),
                             keypoints_cam=xyz[i:i + 1].copy()) for i in range(len(xyz))]

    @property
    def default_init_cfg(self):
        return [dict(type='Normal', layer=['Linear'], std=0.01, bias=0)]
