# `make demo` SimCLR without geometric augmentation: the SimCLR demo config with views that differ in
# appearance only. Both views of an image get the same crop (no rotation, no crop-box shift, the crop margin
# fixed at 1.2, the middle of the SimCLR views' 0.9-1.5); the colour jitter is unchanged. SimCLR against this
# arm measures what invariance to rotation/translation/scale costs or brings; PeCLR against it, what
# equivariance brings beyond seeing the same appearance augmentation.
_base_ = ['./simclr_resnet18-w32_1xb64-400it_synth-freihand-64px.py']

view_pipeline = [dict(type='TrackedRandomAffine', max_angle=0, shift=0, random_sign=False, margin=1.2,
                      flip_prob=0.0) if t.type == 'TrackedRandomAffine' else t for t in _base_.view_pipeline]
train_pipeline = [dict(t, transforms=[view_pipeline]) if t.type == 'MultiViewTracked' else t
                  for t in _base_.train_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
