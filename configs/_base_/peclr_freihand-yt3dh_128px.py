# PeCLR pretraining data as the official release (README command: --color_jitter --random_crop --rotate
# --crop --resize -sources freihand -sources youtube): FreiHAND training images (all 4 versions) +
# YouTube3DHands train frames, sampled 50:50, two independent views per image at 128 px drawn as the release's
# SampleAugmenter (rotation floor(U(-45, 45)) deg about the keypoint mean, crop 2 x max keypoint radius x
# U(0.9, 1.5) with a positive int(U(0, 15)) source-pixel jitter, INTER_AREA resize, then its HSV jitter).
# Data roots: the environment variables FREIHAND_ROOT and YT3DH_ROOT when set (mmengine's environment-variable substitution).
freihand_root = '{{$FREIHAND_ROOT:data/freihand/}}'
yt3dh_root = '{{$YT3DH_ROOT:data/youtube_3d_hands/}}'

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet statistics on RGB, as the release's transforms.Normalize
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

view_pipeline = [
    dict(type='ReleaseHandView', size=128, max_angle=45, margin=(0.9, 1.5), jitter=15),
    # The release feeds RGB images to COLOR_BGR2HSV and truncates with astype(uint8): rgb_input=True on
    # mmcv's BGR images converts the same way, rounding='floor' truncates the same way.
    dict(type='HSVColorJitter', hue=(0.01, 1.0), saturation=(0.01, 1.0), value_alpha=(0.5, 1.0),
         value_beta=(5, 20), prob=1.0, rgb_input=True, rounding='floor'),
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
    # N // 128 iterations per epoch: the release's iterations per epoch in its schedule (it also trains the
    # last partial batch; docs/fidelity.md). Equal per-rank batches for the cross-rank gather.
    drop_last=True,
    # The release's WeightedRandomSampler: weight 1 / len(source) per item, with replacement, len(dataset)
    # draws per epoch, so each source is half of every batch on average.
    sampler=dict(type='SourceBalancedSampler'),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='MixedHandDataset',
        datasets=[
            dict(type='FreiHandImages', data_root=freihand_root,
                 versions=('gs', 'hom', 'sample', 'auto'), pipeline=train_pipeline),
            dict(type='YouTube3DHands', data_root=yt3dh_root, ann_file='youtube_train.json',
                 pipeline=train_pipeline),
        ]))
