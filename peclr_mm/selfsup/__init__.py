"""peclr-mm's mmpretrain half: PeCLR pretraining components, registered in mmpretrain's registries.

Importing this package (``custom_imports=dict(imports=['peclr_mm.selfsup'])``) registers the tracked
geometric transforms, appearance transforms, multi-view wrapper and packing, the unlabeled hand datasets,
the release's view, sampler, optimizer and schedule, the ``PeCLR`` model and the ``EquivarianceMonitorHook``, and allow-lists mmengine checkpoint contents for
torch's safe loading. It never imports mmpose.
"""
from peclr_mm.checkpoint import register_safe_globals
from peclr_mm.dist_cpu import enable_cpu_distributed

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
enable_cpu_distributed()  # torchrun --launcher pytorch on CPU (gloo); no-op with a GPU

__all__ = [
    'HSVColorJitter', 'RandomGaussianNoise', 'PackPeCLRInputs', 'all_gather_with_grad', 'FreiHandImages',
    'HandImageFolder', 'YouTube3DHands', 'LoadHandImage', 'MixedHandDataset', 'MultiViewTracked', 'PeCLR',
    'TrackedCrop', 'TrackedRandomAffine', 'TrackedWarp', 'normalization_matrix', 'INVERSE_MODES', 'UNDO_PARTS',
    'EquivarianceMonitorHook', 'backbone_and_projection', 'bn_mode', 'effective_rank', 'pair_agreement',
    'LARSAdam', 'LinearWarmupCosineAnnealingLR', 'ReleaseWeightDecayConstructor', 'ReleaseHandView',
    'SourceBalancedSampler',
]
