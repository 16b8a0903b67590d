# PeCLR, our variant (exact inverse, tracked views, SGD-LARS, 8 x 128 gathered, random init), on FreiHAND's
# training images only (all 4 versions); the demo's pretraining derives from it.
_base_ = ['./peclr-exact_resnet50_8xb128-lars-scratch-100e_freihand-yt3dh-128px.py']

train_dataloader = dict(dataset=dict(
    _delete_=True, type='FreiHandImages', data_root=_base_.freihand_root, pipeline=_base_.train_pipeline))
