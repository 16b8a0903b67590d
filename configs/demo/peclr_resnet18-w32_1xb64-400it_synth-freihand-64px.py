# `make demo` pretraining: PeCLR on the unlabeled synthetic FreiHAND training images (all 4 versions), sized
# for a 2-core CPU. ResNet-18 at half width (stem/base channels 32), 64 px views with the paper's augmentation
# scaled to 64 px, projection 256 -> 256 -> 128 read as 64 2-D points, NT-Xent at T = 0.2, batch 64, LARS
# (the paper's exclusions) with a 40-iteration linear warm-up then cosine to train_cfg.max_iters. The rest is
# our PeCLR variant's config on FreiHAND images (exact inverse, tracked views). tools/demo.py sets data_root
# and, for other presets, the length (peclr_lab.experiments.plan.schedule_options).
_base_ = ['../peclr/peclr-exact_resnet50_8xb128-lars-scratch-100e_freihand-128px.py']

data_root = 'data/synthetic_freihand/'
max_iters = 400  # the length: a fixed warm-up, then the cosine runs to train_cfg.max_iters
warmup_iters = 40
width = 32  # ResNet stem/base channels; the fine-tuning configs use the same value

model = dict(
    # zero_init_residual=True (mmpretrain's default) as measured; False changed nothing (docs/demo.md)
    backbone=dict(depth=18, stem_channels=width, base_channels=width, norm_cfg=dict(type='BN'),
                  zero_init_residual=True),
    neck=dict(in_channels=8 * width, hid_channels=256, norm_cfg=dict(type='BN1d')),
    # T = 0.2, not the paper's 0.5: at this budget the projection becomes equivariant in eval mode only with
    # the lower temperature (EquivarianceMonitorHook gap at 500 iterations: +0.025 vs -0.015; SimCLR -0.14;
    # docs/pretraining.md). The SimCLR demo config inherits this head.
    head=dict(temperature=0.2))

# The base's views at 64 px: the crop size and the crop-box jitter (the paper's 0-15 px at 128 px).
view_pipeline = [dict(t, size=64) if t.type == 'TrackedCrop'
                 else dict(t, shift=(0, 7.5)) if t.type == 'TrackedRandomAffine'
                 else t for t in _base_.view_pipeline]
train_pipeline = [dict(t, transforms=[view_pipeline]) if t.type == 'MultiViewTracked' else t
                  for t in _base_.train_pipeline]
train_dataloader = dict(
    batch_size=64,
    # data loaded in the training process: the demo runs 2 stages at once on 2 cores, where a loader worker's
    # extra copies cost more than its parallelism gains (0.32 against 0.36 s per iteration, docs/demo.md)
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    # Views at the scale the fine-tuning sees the hand: there the crop is the whole 224 px image x 0.8-1.2
    # (179-269 px). A view's side is its margin (0.9-1.5) x the box diagonal; bbox_scale 0.6 gives a 190 px
    # diagonal, so 171-285 px views. FreiHandImages' default 0.33 gives 94-157 px centre crops that often
    # cut the hand, a ~2x scale gap to fine-tuning (measured effect in docs/demo.md).
    dataset=dict(data_root=data_root, bbox_mode='pseudo', bbox_scale=0.6, pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(lr=0.3), accumulative_counts=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False, begin=warmup_iters),  # to train_cfg.max_iters
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=False)
# The equivariance of the projection (docs/pretraining.md), in eval and train BN modes, on 128 fixed images;
# channels-last convolution weights (the same values, ~1.2x faster on a CPU, peclr_mm/training_speed.py).
custom_hooks = [dict(type='EquivarianceMonitorHook', interval=100, num_samples=128), dict(type='ChannelsLastHook')]
