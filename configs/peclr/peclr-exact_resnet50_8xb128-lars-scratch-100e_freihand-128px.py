# peclr_resnet50_8xb128-100e_freihand-yt3dh-128px on FreiHAND's training images only (all 4 versions), for
# when YouTube3DHands is not at hand (tools/reproduce.py without --yt3dh-root).
_base_ = ['./peclr_resnet50_8xb128-100e_freihand-yt3dh-128px.py']

train_dataloader = dict(dataset=dict(
    _delete_=True, type='FreiHandImages', data_root=_base_.freihand_root, pipeline=_base_.train_pipeline))
