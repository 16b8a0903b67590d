# Stock mmpose 2-D heatmap head (HeatmapHead + MSRAHeatmap, mmpose's FreiHAND recipe) on
# FreiHand3DDataset with a PeCLR backbone: the plugin's dataset and transforms (TopdownAffine3D, a
# TopdownAffine; PackHand3DInputs, a PackPoseInputs) mix with mmpose's own heads, codecs and 2-D metrics.
# Backbone path: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['./td-reg25d_res50-peclr_8xb64-100e_freihand3d-224x224.py']

# The 2.5-D regression head swapped for mmpose's heatmap head on the last stage's feature map.
codec = dict(type='MSRAHeatmap', input_size=_base_.codec.input_size, heatmap_size=(56, 56), sigma=2)
model = dict(
    neck=None,
    head=dict(
        _delete_=True,
        type='HeatmapHead',
        in_channels=2048,
        out_channels=21,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))

# The base's pipelines (the plugin's camera-consistent crop and packing) with heatmap targets.
train_pipeline = [dict(t, encoder=codec) if t.type == 'GenerateTarget' else t for t in _base_.train_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# mmpose's 2-D keypoint metrics (pixels of the 224 px image)
val_evaluator = [dict(type='PCKAccuracy', thr=0.2), dict(type='AUC'), dict(type='EPE')]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='PCK', rule='greater'))
