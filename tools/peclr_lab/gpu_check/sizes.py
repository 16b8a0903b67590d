"""What one mode of the check runs: :class:`Sizes`, the GPU mode's (:data:`GPU`) and ``--tiny``'s (:data:`TINY`)."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What one mode runs. ``None`` batch / workers: the config's own (128 and 8 for the pretraining, 64
    and 4 for the fine-tuning: the paper's per-GPU values)."""

    num_train: int  # synthetic FreiHAND training samples (4 image versions each)
    num_eval: int  # evaluation samples; their frames are also the synthetic YouTube3DHands set
    pretrain_iters: int
    finetune_iters: int
    window: int  # mmengine's log interval and LogProcessor window: one scalars.json record per window
    warmup_windows: int  # windows left out of the throughput (cudnn autotuning, workers filling up)
    pretrain_batch: int | None
    finetune_batch: int | None
    workers: int | None
    numeric_images: int  # images (2 views each) of the numerical check
    numeric_size: int  # their side in pixels
    budget_s: float  # wall-clock budget of the whole check; later steps are skipped past it
    run_cap_s: float  # the most one run (numerics, a training, the test) may take; killed past it
    amp: bool  # bf16 autocast (AmpOptimWrapper) in training
    device: str  # 'cuda' or 'cpu'


GPU = Sizes(num_train=512, num_eval=256, pretrain_iters=300, finetune_iters=300, window=10, warmup_windows=5,
            pretrain_batch=None, finetune_batch=None, workers=None, numeric_images=16, numeric_size=128,
            budget_s=450, run_cap_s=150, amp=True, device='cuda')
TINY = Sizes(num_train=8, num_eval=4, pretrain_iters=4, finetune_iters=4, window=1, warmup_windows=1,
             pretrain_batch=4, finetune_batch=4, workers=1, numeric_images=4, numeric_size=64,
             budget_s=600, run_cap_s=300, amp=False, device='cpu')
