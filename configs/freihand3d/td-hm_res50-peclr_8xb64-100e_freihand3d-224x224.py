# Stock mmpose 2-D heatmap head (HeatmapHead + MSRAHeatmap, mmpose's FreiHAND recipe) on
# FreiHand3DDataset with a PeCLR backbone: the plugin's dataset and transforms mix with mmpose's own
# heads, codecs and 2-D metrics. Backbone path: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '../_base_/freihand3d_runtime.py',
    '../_base_/freihand3d_dataset.py',
]
custom_imports = dict(imports=['peclr_mm.pose'], allow_failed_imports=False)

codec = dict(type='MSRAHeatmap', input_size=(224, 224), heatmap_size=(56, 56), sigma=2)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint='checkpoints/peclr_res50_backbone.pth')),
    head=dict(
        type='HeatmapHead',
        in_channels=2048,
        out_channels=21,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='RandomBBoxTransform', shift_factor=0.1, scale_factor=(0.8, 1.2), rotate_factor=90),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=val_pipeline))

# mmpose's 2-D keypoint metrics (pixels of the 224 px image)
val_evaluator = [dict(type='PCKAccuracy', thr=0.2), dict(type='AUC'), dict(type='EPE')]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='PCK', rule='greater'))
