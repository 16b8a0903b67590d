# Shared runtime for FreiHAND 3-D fine-tuning: mmpose's default runtime, mmpose's FreiHAND schedule
# (Adam 5e-4, 500-iteration linear warm-up, x0.1 at epochs 50 and 70, 100 epochs, batch 8 x 64).
_base_ = ['mmpose::_base_/default_runtime.py']
custom_imports = dict(imports=['peclr_mm.pose'], allow_failed_imports=False)

train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=5)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=100, milestones=[50, 70], gamma=0.1, by_epoch=True),
]
auto_scale_lr = dict(base_batch_size=512)
default_hooks = dict(
    checkpoint=dict(save_best='freihand/PA-EPE', rule='less', interval=10, max_keep_ckpts=2))
