# Our PeCLR model (not the release's): the exact inverse on the raw projection, then L2-normalisation
# (measured in docs/pretraining.md), from random initialisation (mmpretrain ResNet's own init). The rest is
# the release's model.
_base_ = ['./peclr_resnet50.py']

model = dict(
    mode='exact',  # undo = exactly the inverse of each view's augmentation on the latent points
    normalize='after',
    backbone=dict(_delete_=True, type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'), zero_init_residual=False))
