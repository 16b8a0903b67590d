"""peclr_mm.pose: FreiHAND 3-D fine-tuning and evaluation, registered in mmpose's registries.

Importing this package (``custom_imports=dict(imports=['peclr_mm.pose'])``) registers
:class:`FreiHand3DDataset`, :class:`TopdownAffine3D`, :class:`PackHand3DInputs`, the :class:`Hand25D`
codec, :class:`Regression25DHead`, :class:`FreiHandMetric` and the inferencer :class:`Hand25DInferencer`
(built by ``MMPoseInferencer(pose3d=CONFIG)`` for 2.5-D configs,
:func:`peclr_mm.compat.inferencer_routing.route_pose3d_inferencers`; the single-image function is
:func:`inference_hand25d`), allow-lists mmengine checkpoint contents for torch's ``weights_only`` loading, and
applies :mod:`peclr_mm.compat` (the plugin's changes to mmengine, mmpose and matplotlib, e.g. mmpose's
keypoint drawing under numpy >= 2.5). It also registers :mod:`peclr_mm.training_speed`'s
``AutocastOptimWrapper`` and ``ChannelsLastHook`` in mmengine's registries. It imports mmpose only (never
mmpretrain).
"""
from peclr_mm import (
    compat,
    training_speed,  # noqa: F401  (registers AutocastOptimWrapper, ChannelsLastHook)
)
from peclr_mm.checkpoint import register_safe_globals

from . import root_depth  # noqa: F401  (numpy/torch core)
from .freihand3d_dataset import FREIHAND3D_METAINFO, FreiHand3DDataset
from .freihand_metric import FreiHandMetric
from .hand25d import Hand25D
from .inference import inference_hand25d
from .inferencer import Hand25DInferencer
from .regression25d_head import Regression25DHead
from .transforms import PackHand3DInputs, TopdownAffine3D

register_safe_globals()
compat.apply()  # every change to upstream, where the running versions need it (docs/compat.md)

__all__ = ['FREIHAND3D_METAINFO', 'FreiHand3DDataset', 'FreiHandMetric', 'Hand25D', 'Hand25DInferencer',
           'PackHand3DInputs', 'Regression25DHead', 'TopdownAffine3D', 'inference_hand25d']
