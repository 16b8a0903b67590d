# Tiny CPU config for tests and smoke runs: ResNet-18, 64 px input, 2.5-D head with z-root refinement,
# one epoch. Point it at data with --cfg-options train_dataloader.dataset.data_root=PATH
# val_dataloader.dataset.data_root=PATH test_dataloader.dataset.data_root=PATH
_base_ = ['./td-reg25d_res50_8xb64-100e_freihand3d-224x224.py']

# The base's data and head at 64 x 64: the codec, the crop of both pipelines and the head's decoder.
codec = dict(type='Hand25D', input_size=(64, 64))
train_pipeline = [dict(t, input_size=codec['input_size']) if t.type == 'TopdownAffine3D'
                  else dict(t, encoder=codec) if t.type == 'GenerateTarget'
                  else t for t in _base_.train_pipeline]
val_pipeline = [dict(t, input_size=codec['input_size']) if t.type == 'TopdownAffine3D' else t
                for t in _base_.val_pipeline]

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
