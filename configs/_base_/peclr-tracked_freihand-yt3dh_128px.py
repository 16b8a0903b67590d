# Our pretraining views (not the release's): the release's data with transform-tracked views (one resampling
# per view, a crop-box shift of +-0-15 view pixels with a random sign, the crop centred on the hand box),
# colour jitter on true BGR hue with rounding, and plain concatenation of the sources, shuffled (no 50:50).
_base_ = ['./peclr_freihand-yt3dh_128px.py']

view_pipeline = [
    dict(type='TrackedCrop', size=128, margin=1.0),
    # rotation +-45 deg, crop-box jitter 0-15 px at 128 px, crop margin 0.9-1.5; no flip in the paper
    dict(type='TrackedRandomAffine', max_angle=45, shift=(0, 15), random_sign=True, margin=(0.9, 1.5),
         flip_prob=0.0),
    dict(type='TrackedWarp'),  # the single resampling of the view
    dict(type='HSVColorJitter', hue=(0.01, 1.0), saturation=(0.01, 1.0), value_alpha=(0.5, 1.0),
         value_beta=(5, 20), prob=1.0),
]
train_pipeline = [dict(t, transforms=[view_pipeline]) if t.type == 'MultiViewTracked' else t
                  for t in _base_.train_pipeline]
train_dataloader = _base_.train_dataloader
train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
train_dataloader.dataset.datasets = [dict(d, pipeline=train_pipeline) for d in train_dataloader.dataset.datasets]
