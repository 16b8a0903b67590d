# `make demo PRESET=gpu` SimCLR without geometric augmentation: the GPU SimCLR demo config with views that
# differ in appearance only (as simclr-appearance_resnet18-w32_...-64px.py for the CPU demo): the same crop
# for both views (no rotation, no crop-box shift, margin fixed at 1.2, the middle of 0.9-1.5), the colour
# jitter unchanged.
_base_ = ['./simclr_resnet18_1xb256-1000it_synth-freihand-128px.py']

view_pipeline = [dict(type='TrackedRandomAffine', max_angle=0, shift=0, random_sign=False, margin=1.2,
                      flip_prob=0.0) if t.type == 'TrackedRandomAffine' else t for t in _base_.view_pipeline]
train_pipeline = [dict(t, transforms=[view_pipeline]) if t.type == 'MultiViewTracked' else t
                  for t in _base_.train_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
