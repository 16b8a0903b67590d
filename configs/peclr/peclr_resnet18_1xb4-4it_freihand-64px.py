# Tiny CPU config for tests and smoke runs: ResNet-18, FreiHAND only, 64 px views, batch 4, 4 iterations.
# Override the data with --cfg-options train_dataloader.dataset.data_root=PATH
_base_ = ['./peclr-exact_resnet50_8xb128-lars-scratch-100e_freihand-128px.py']

# The base's views at 64 px: the crop size and the crop-box jitter (the paper's 0-15 px at 128 px).
view_pipeline = [dict(t, size=64) if t.type == 'TrackedCrop'
                 else dict(t, shift=(0, 7.5)) if t.type == 'TrackedRandomAffine'
                 else t for t in _base_.view_pipeline]
train_pipeline = [dict(t, transforms=[view_pipeline]) if t.type == 'MultiViewTracked' else t
                  for t in _base_.train_pipeline]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))

model = dict(
    backbone=dict(depth=18, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=64, out_channels=32, norm_cfg=dict(type='BN1d')))

optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='LARS', lr=0.3, momentum=0.9, weight_decay=1e-6))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2)]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=4)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False))
custom_hooks = []
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
log_processor = dict(by_epoch=False)
