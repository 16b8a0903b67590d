# PeCLR model: ResNet-50, projection 2048 -> 512 -> 128 (Linear+bias, BN, ReLU, Linear), NT-Xent at T=0.5.
model = dict(
    type='PeCLR',
    undo=('rotate', 'translate'),  # the paper's equivariance; 'scale' and 'flip' are our extension
    mode='exact',  # see PeCLR's docstring; mode='official', normalize='both' reproduces the release
    normalize='after',
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'), zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=512,
        out_channels=128,
        num_layers=2,
        with_bias=True,
        with_last_bias=False,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='SyncBN')),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.5))
