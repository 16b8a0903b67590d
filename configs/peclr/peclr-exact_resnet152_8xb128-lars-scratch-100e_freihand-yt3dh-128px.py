_base_ = './peclr_resnet50_8xb128-100e_freihand-yt3dh-128px.py'

model = dict(backbone=dict(depth=152))
