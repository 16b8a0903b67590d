# `make demo PRESET=gpu` pretraining: the CPU demo's PeCLR recipe (peclr_resnet18-w32_...-64px.py) at the scale
# of one GPU. What changes, and only that: a full-width ResNet-18 (stem/base channels 64, so the projection
# reads 512 features) on 128 px views (the base pipeline's 64 px view and crop-box jitter doubled back to the
# paper's 128 px and 0-15 px), batch 256 (lr 0.3 is SimCLR's LARS rule at 256), bf16 autocast, cuDNN
# autotuning, 1,000 iterations with a 100-iteration warm-up. tools/demo.py sets the data loader's workers from
# the machine's cores, data_root and, for other lengths, the schedule (peclr_lab.experiments.plan).
_base_ = ['./peclr_resnet18-w32_1xb64-400it_synth-freihand-64px.py']

max_iters = 1000
warmup_iters = 100
width = 64

model = dict(
    backbone=dict(stem_channels=width, base_channels=width),
    neck=dict(in_channels=8 * width))

# The views at 128 px: the crop size and the paper's 0-15 px crop-box jitter at 128 px.
view_pipeline = [dict(t, size=128) if t.type == 'TrackedCrop'
                 else dict(t, shift=(0, 15)) if t.type == 'TrackedRandomAffine'
                 else t for t in _base_.view_pipeline]
train_pipeline = [dict(t, transforms=[view_pipeline]) if t.type == 'MultiViewTracked' else t
                  for t in _base_.train_pipeline]
train_dataloader = dict(batch_size=256, num_workers=4, persistent_workers=True, pin_memory=True,
                        dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=False, begin=warmup_iters),  # to train_cfg.max_iters
]
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=max_iters))
env_cfg = dict(cudnn_benchmark=True)
