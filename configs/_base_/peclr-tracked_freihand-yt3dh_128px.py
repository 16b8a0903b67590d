# PeCLR pretraining data: FreiHAND training images (all 4 versions) + YouTube3DHands train frames, two
# transform-tracked views per image at 128 px with the paper's augmentation (official command:
# --color_jitter --random_crop --rotate --crop --resize).
freihand_root = 'data/freihand/'
yt3dh_root = 'data/youtube_3d_hands/'

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet statistics, as the official code
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

view_pipeline = [
    dict(type='TrackedCrop', size=128, margin=1.0),
    # rotation +-45 deg, crop-box jitter 0-15 px at 128 px, crop margin 0.9-1.5; no flip in the paper
    dict(type='TrackedRandomAffine', max_angle=45, shift=(0, 15), random_sign=True, margin=(0.9, 1.5),
         flip_prob=0.0),
    dict(type='TrackedWarp'),  # the single resampling of the view
    dict(type='HSVColorJitter', hue=(0.01, 1.0), saturation=(0.01, 1.0), value_alpha=(0.5, 1.0),
         value_beta=(5, 20), prob=1.0),
]
train_pipeline = [
    dict(type='LoadHandImage'),
    dict(type='MultiViewTracked', num_views=2, transforms=[view_pipeline]),
    dict(type='PackPeCLRInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,  # equal per-rank batches for the cross-rank gather
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='MixedHandDataset',
        datasets=[
            dict(type='FreiHandImages', data_root=freihand_root,
                 versions=('gs', 'hom', 'sample', 'auto'), pipeline=train_pipeline),
            dict(type='YouTube3DHands', data_root=yt3dh_root, ann_file='youtube_train.json',
                 pipeline=train_pipeline),
        ]))
