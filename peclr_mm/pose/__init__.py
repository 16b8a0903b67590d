"""peclr_mm.pose: FreiHAND 3-D fine-tuning and evaluation, registered in mmpose's registries.

Importing this package (``custom_imports=dict(imports=['peclr_mm.pose'])``) registers
:class:`FreiHand3DDataset`, :class:`TopdownAffine3D`, :class:`PackHand3DInputs`, the :class:`Hand25D`
codec, :class:`Regression25DHead`, :class:`FreiHandMetric` and the inferencer :class:`Hand25DInferencer`
(built by ``MMPoseInferencer(pose3d=CONFIG)`` for 2.5-D configs, :func:`.inferencer.route_mmpose_inferencer`;
the single-image function is :func:`inference_hand25d`), and allow-lists mmengine checkpoint
contents for torch's ``weights_only`` loading. It imports mmpose only (never mmpretrain). Under numpy >= 2.5
it also fixes mmpose's keypoint drawing (:mod:`.numpy_compat`).
"""
from peclr_mm.checkpoint import register_safe_globals
from peclr_mm.compat import restore_canvas_tostring_rgb
from peclr_mm.dist_cpu import enable_cpu_distributed

from . import root_depth  # noqa: F401  (numpy/torch core)
from .freihand3d_dataset import FREIHAND3D_METAINFO, FreiHand3DDataset
from .freihand_metric import FreiHandMetric
from .hand25d import Hand25D
from .inference import inference_hand25d
from .inferencer import Hand25DInferencer, route_mmpose_inferencer
from .numpy_compat import apply as _numpy_compat
from .regression25d_head import Regression25DHead
from .transforms import PackHand3DInputs, TopdownAffine3D

register_safe_globals()
enable_cpu_distributed()  # torchrun --launcher pytorch on CPU (gloo); no-op with a GPU
_numpy_compat()  # numpy >= 2.5: mmpose's keypoint drawing (no-op below)
restore_canvas_tostring_rgb()  # matplotlib >= 3.10: mmpose's 3-D visualiser
route_mmpose_inferencer()  # MMPoseInferencer(pose3d=...) of a 2.5-D config -> Hand25DInferencer

__all__ = ['FREIHAND3D_METAINFO', 'FreiHand3DDataset', 'FreiHandMetric', 'Hand25D', 'Hand25DInferencer',
           'PackHand3DInputs', 'Regression25DHead', 'TopdownAffine3D', 'inference_hand25d']
