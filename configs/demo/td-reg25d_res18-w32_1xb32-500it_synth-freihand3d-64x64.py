# `make demo` fine-tuning, initialised from scratch: 2.5-D regression (Regression25DHead with the z-root
# MLP) on a half-width ResNet-18 (stem/base channels 32, as the demo pretraining) at 64 x 64, on the
# synthetic FreiHAND training split (all 4 versions of each labelled sample), the same number of iterations
# for every initialisation and label fraction. No validation during training (the last checkpoint is
# tested: no model selection on any split); tools/demo.py tests it on the evaluation split with
# FreiHandMetric and writes pred.json. Point it at data with
# --cfg-options train_dataloader.dataset.data_root=PATH test_dataloader.dataset.data_root=PATH
_base_ = ['../freihand3d/td-reg25d_res18_1xb8-1e_freihand3d-64x64.py']

data_root = 'data/synthetic_freihand/'
max_iters = 500  # the length: a fixed warm-up, then the cosine runs to train_cfg.max_iters
warmup_iters = 25
width = 32

# The demo's fine-tuning recipe (docs/demo.md, "Fine-tuning recipe"): the paper's model (pooled features ->
# linear 2.5-D regression + z-root MLP) with what is not the paper's set for a 500-iteration CPU budget.
# - loss balance: loss_z (L1 on z_rel / s, ~1.1 at the mean pose) is 7x loss_uv and loss_root (~20) is 100x;
#   both swamp the (u, v) gradient that PA-EPE depends on. z_loss_weight 0.1 and a root-loss weight of 0.01
#   (the MLP's own parameters learn as fast under Adam; only their pull on the backbone shrinks);
# - zero_init_residual=False: residual branches start active (mmpose's default zeroes the last BN of each);
# - no geometric augmentation: 500 iterations x 32 = 2 epochs of the 100 % split do not overfit.
model = dict(
    backbone=dict(depth=18, stem_channels=width, base_channels=width, zero_init_residual=False),
    head=dict(in_channels=8 * width, root_hidden=32, z_loss_weight=0.1,
              root_loss=dict(type='L1Loss', loss_weight=0.01)))
train_pipeline = [t for t in _base_.train_pipeline if t.type != 'RandomBBoxTransform']  # no geometric augmentation

train_dataloader = dict(
    batch_size=32,
    # data loaded in the training process: with 2 stages at once on 2 cores, passing each batch's data
    # samples through a loader worker costs more than loading them (0.14 against 0.21 s per iteration,
    # docs/demo.md)
    num_workers=0,
    persistent_workers=False,
    drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, val_ratio=0.0, label_fraction=1.0, seed=0, pipeline=train_pipeline))
test_dataloader = dict(batch_size=64, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
val_dataloader = None
val_cfg = None
val_evaluator = None

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, fused=True))  # fused: one kernel per step (CPU and GPU)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=warmup_iters, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=warmup_iters, eta_min=1e-5, by_epoch=False),  # to train_cfg.max_iters
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, save_best=None,
                    max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, deterministic=False)
# channels-last convolution weights (the same values, ~1.2x faster on a CPU, peclr_mm/training_speed.py)
custom_hooks = [*_base_.custom_hooks, dict(type='ChannelsLastHook')]
