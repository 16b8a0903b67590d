# Paper schedule: LARS, 10 warm-up epochs then cosine, 100 epochs, effective batch 2048
# (8 GPUs x 128 x accumulative_counts 2; set accumulative_counts = 2048 / (GPUs x batch) for fewer GPUs).
# Needs custom_imports=dict(imports=['peclr_mm.selfsup']) (the PeCLR configs have it) for the constructor.
optim_wrapper = dict(
    type='OptimWrapper',
    # SimCLR's linear rule 0.3 x 2048 / 256. (The release wraps Adam in LARS, lr 1e-4 x sqrt(2048); mmpretrain's
    # LARS is SGD-based.)
    optimizer=dict(type='LARS', lr=2.4, momentum=0.9, weight_decay=1e-6),
    accumulative_counts=2,
    # No weight decay and no LARS adaptation for normalisation layers and biases, found by module type so that
    # it holds for any backbone (ResNet BN, ConvNeXt LayerNorm2d + layer scale, ViT LayerNorm). For ResNet the
    # excluded set equals that of mmpretrain's SimCLR keys 'bn', 'bias', 'downsample.1' (tested).
    constructor='LARSByTypeConstructor')

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=90, eta_min=0.0, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
# No auto_scale_lr: keep the effective batch at 2048 through accumulative_counts instead (mmengine's
# --auto-scale-lr ignores accumulation).
