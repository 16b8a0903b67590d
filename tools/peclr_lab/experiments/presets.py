"""Sizes of a demo run: one :class:`Preset` per ``--preset`` (``quick``, ``full``, ``long`` on a CPU; ``gpu``
on one CUDA device).

The budgets live here (the recipes in ``configs/demo/``), nowhere else: the iteration counts reach the configs
through :func:`peclr_lab.experiments.plan.schedule_options`.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Preset:
    """Sizes of one demo run (configs, iterations, seeds, stages at once)."""

    num_train: int  # synthetic training samples (4 images each)
    num_eval: int  # synthetic evaluation samples
    pretrain_iters: int
    finetune_iters: int
    log_interval: int
    seeds: tuple[int, ...] = (0, 1, 2)  # pretraining + probe + 100 % fine-tuning seeds
    low_label_seeds: int | None = 1  # how many of the seeds (the first ones) also run fractions < 1; None: all
    probe_train: int | None = None  # training images of the linear probe (None: all)
    jobs: int = 2  # stages run at once (each with one compute thread)
    num_pictures: int = 3  # prediction pictures (evaluation samples) per model
    scale: str = 'demo'  # the configs: 'demo' (CPU) or 'demo-gpu' (peclr_lab.experiments.plan.DEMO_SCALES)

    def seeds_for(self, fraction: float) -> tuple[int, ...]:
        """The seeds that fine-tune at ``fraction`` of the labels (all seeds at 100 %)."""
        if fraction >= 1.0 or self.low_label_seeds is None:
            return self.seeds
        return self.seeds[:self.low_label_seeds]


PRESETS = {
    'quick': Preset(num_train=160, num_eval=48, pretrain_iters=16, finetune_iters=24, log_interval=8,
                    seeds=(0, 1), low_label_seeds=1, num_pictures=2),
    # 3 seeds x (3 pretrainings + 4 fine-tunings at 100 % + 4 at 10 % + 1 geometry probe), 2 at once, within
    # 25 min on 2 cores (bf16 where the CPU has AMX): fine-tuning 200 iterations of the configs' 500 (0.8
    # epoch of the 100 % split; docs/demo.md)
    'full': Preset(num_train=2000, num_eval=500, pretrain_iters=400, finetune_iters=200, log_interval=50,
                   seeds=(0, 1, 2), low_label_seeds=None, probe_train=4000),
    # 2.5x the full pretraining and 3x the fine-tuning (docs/demo.md)
    'long': Preset(num_train=2000, num_eval=500, pretrain_iters=1000, finetune_iters=1500, log_interval=100,
                   seeds=(0, 1, 2), low_label_seeds=None, probe_train=4000),
    # one CUDA device (docs/demo.md, "make demo PRESET=gpu"): the GPU configs (full-width ResNet-18, 128 px,
    # bf16), 41,000 rendered images, 4 stages at once sharing the GPU and the cores; sized for <= 8 min on one
    # H100 from estimated throughput (not yet run on a GPU)
    'gpu': Preset(num_train=10000, num_eval=1000, pretrain_iters=1000, finetune_iters=500, log_interval=50,
                  seeds=(0, 1), low_label_seeds=None, probe_train=8000, jobs=4, scale='demo-gpu'),
}


def resolve(name: str, **overrides) -> Preset:
    """``PRESETS[name]`` with the fields in ``overrides`` that are not None replaced."""
    if name not in PRESETS:
        raise ValueError(f'unknown preset {name!r}; choose from {sorted(PRESETS)}')
    fields = {f.name for f in dataclasses.fields(Preset)}
    bad = set(overrides) - fields
    if bad:
        raise ValueError(f'not preset fields: {sorted(bad)}')
    return dataclasses.replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
