"""peclr-mm's mmpretrain half: PeCLR pretraining components, registered in mmpretrain's registries.

Importing this package (``custom_imports=dict(imports=['peclr_mm.selfsup'])``) registers the tracked
geometric transforms, appearance transforms, multi-view wrapper and packing, the unlabeled hand datasets,
the release's view, sampler, optimizer and schedule, the ``PeCLR`` model and the ``EquivarianceMonitorHook``, allow-lists mmengine checkpoint contents for
torch's safe loading, and applies :mod:`peclr_mm.compat` (the plugin's changes to mmengine: safe checkpoint
loading, ``torchrun --launcher pytorch`` on the CPU). It also registers :mod:`peclr_mm.training_speed`'s
``AutocastOptimWrapper`` and ``ChannelsLastHook`` in mmengine's registries. It never imports mmpose.
"""
from peclr_mm import (
    compat,
    training_speed,  # noqa: F401  (registers AutocastOptimWrapper, ChannelsLastHook)
)
from peclr_mm.checkpoint import register_safe_globals

from .appearance import HSVColorJitter, RandomGaussianNoise
from .diagnostics import backbone_and_projection, bn_mode, effective_rank, pair_agreement
from .equivariance import INVERSE_MODES, UNDO_PARTS
from .equivariance_hook import EquivarianceMonitorHook
from .formatting import PackPeCLRInputs
from .gather import all_gather_with_grad
from .hand_datasets import FreiHandImages, HandImageFolder, YouTube3DHands
from .lars_constructor import LARSByTypeConstructor  # noqa: F401  (registers the optimiser constructor)
from .loading import LoadHandImage
from .mixed_dataset import MixedHandDataset
from .multiview import MultiViewTracked
from .peclr import PeCLR
from .release_optim import LARSAdam, LinearWarmupCosineAnnealingLR, ReleaseWeightDecayConstructor
from .release_view import ReleaseHandView
from .source_sampler import SourceBalancedSampler
from .tracked_transforms import TrackedCrop, TrackedRandomAffine, TrackedWarp, normalization_matrix

register_safe_globals()
compat.apply()  # every change to upstream, where the running versions need it (docs/compat.md)

__all__ = [
    'HSVColorJitter', 'RandomGaussianNoise', 'PackPeCLRInputs', 'all_gather_with_grad', 'FreiHandImages',
    'HandImageFolder', 'YouTube3DHands', 'LoadHandImage', 'MixedHandDataset', 'MultiViewTracked', 'PeCLR',
    'TrackedCrop', 'TrackedRandomAffine', 'TrackedWarp', 'normalization_matrix', 'INVERSE_MODES', 'UNDO_PARTS',
    'EquivarianceMonitorHook', 'backbone_and_projection', 'bn_mode', 'effective_rank', 'pair_agreement',
    'LARSAdam', 'LinearWarmupCosineAnnealingLR', 'ReleaseWeightDecayConstructor', 'ReleaseHandView',
    'SourceBalancedSampler',
]
