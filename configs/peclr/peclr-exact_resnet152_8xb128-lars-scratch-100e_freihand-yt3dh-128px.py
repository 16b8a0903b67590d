# PeCLR, our variant (exact inverse, tracked views, SGD-LARS, 8 x 128 gathered, random init), ResNet-152.
_base_ = './peclr-exact_resnet50_8xb128-lars-scratch-100e_freihand-yt3dh-128px.py'

model = dict(backbone=dict(depth=152))
