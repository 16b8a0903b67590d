# 2.5-D regression model: ResNet-50 -> global average pooling -> Regression25DHead with the z-root
# refinement MLP (PeCLR's official RN_25D_wMLPref). Initialised from scratch; children set init_cfg or
# another depth. The head's decoder is the data's codec: the configs that combine this base with a dataset
# base set model.head.decoder = _base_.codec, so the input size lives in one place.
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],  # the statistics of the pretraining (ImageNet's), RGB
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=50),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='Regression25DHead',
        in_channels=2048,
        num_joints=21,
        loss=dict(type='L1Loss', use_target_weight=True),
        refine_root=True),
    test_cfg=dict(flip_test=False))
