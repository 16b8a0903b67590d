# Tiny CPU config for tests and smoke runs: ResNet-18, FreiHAND only, 64 px, 4 iterations.
# Override the data with --cfg-options train_dataloader.dataset.data_root=PATH
_base_ = [
    '../_base_/peclr_freihand-yt3dh_128px.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['peclr_mm.selfsup'], allow_failed_imports=False)

view_pipeline = [
    dict(type='TrackedCrop', size=64, margin=1.0),
    dict(type='TrackedRandomAffine', max_angle=45, shift=(0, 7.5), random_sign=True, margin=(0.9, 1.5)),
    dict(type='TrackedWarp'),
    dict(type='HSVColorJitter'),
]
train_pipeline = [
    dict(type='LoadHandImage'),
    dict(type='MultiViewTracked', num_views=2, transforms=[view_pipeline]),
    dict(type='PackPeCLRInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, type='FreiHandImages', data_root='data/freihand/', pipeline=train_pipeline))

model = dict(
    type='PeCLR',
    undo=('rotate', 'translate'),
    backbone=dict(type='ResNet', depth=18, norm_cfg=dict(type='BN')),
    neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=64, out_channels=32, num_layers=2,
              with_bias=True, with_last_bn=False, with_avg_pool=True, norm_cfg=dict(type='BN1d')),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.5))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='LARS', lr=0.3, momentum=0.9, weight_decay=1e-6))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
log_processor = dict(by_epoch=False)
