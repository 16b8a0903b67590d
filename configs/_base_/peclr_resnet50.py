# PeCLR model as the official release (src/models/unsupervised/hybrid2_model.py, simclr_model.py): ResNet-50
# initialised from torchvision's ImageNet weights (pretrained=True in 2021: the V1 file resnet50-0676ba61.pth;
# offline: docs/offline_weights.md), projection 2048 -> 512 -> 128 (Linear+bias, BN, ReLU, Linear), the
# release's inverse on the 64 latent 2-D points (L2-normalise, shift by jitter x point range, rotate about the
# centroid, L2-normalise), NT-Xent at T = 0.5.
model = dict(
    type='PeCLR',
    undo=('rotate', 'translate'),
    mode='official',
    normalize='both',
    # SyncBN is BatchNorm2d on one GPU (the release's layout); on several GPUs it keeps the statistics over
    # the whole 128-image batch, as the release's single GPU.
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'), zero_init_residual=False,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
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
