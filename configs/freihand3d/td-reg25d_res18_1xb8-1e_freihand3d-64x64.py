# Tiny CPU config for tests and smoke runs: ResNet-18, 64 px input, 2.5-D head with z-root refinement,
# one epoch. Point it at data with --cfg-options train_dataloader.dataset.data_root=PATH
# val_dataloader.dataset.data_root=PATH test_dataloader.dataset.data_root=PATH
_base_ = [
    '../_base_/freihand3d_runtime.py',
    '../_base_/freihand3d_dataset.py',
    '../_base_/freihand3d_reg25d_res50.py',
]
custom_imports = dict(imports=['peclr_mm.pose'], allow_failed_imports=False)

codec = dict(type='Hand25D', input_size=(64, 64))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='RandomBBoxTransform', shift_factor=0.1, scale_factor=(0.8, 1.2), rotate_factor=90),
    dict(type='TopdownAffine3D', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackHand3DInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='TopdownAffine3D', input_size=codec['input_size']),
    dict(type='PackHand3DInputs'),
]
loader = dict(num_workers=0, persistent_workers=False, batch_size=8)
train_dataloader = dict(**loader, dataset=dict(val_ratio=0.25, pipeline=train_pipeline))
val_dataloader = dict(**loader, dataset=dict(val_ratio=0.25, pipeline=val_pipeline))
test_dataloader = dict(**loader, dataset=dict(pipeline=val_pipeline))

model = dict(
    backbone=dict(depth=18),
    head=dict(in_channels=512, root_hidden=32, decoder=codec))

train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
param_scheduler = [dict(type='LinearLR', begin=0, end=2, start_factor=0.1, by_epoch=False)]
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
