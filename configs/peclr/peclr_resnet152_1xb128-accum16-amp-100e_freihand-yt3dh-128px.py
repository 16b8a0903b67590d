# PeCLR as the official release trains it, ResNet-152 (README ResNet-152 command): the ResNet-50 release
# config with the deeper backbone, from torchvision's ImageNet ResNet-152 (V1, resnet152-394f9c45.pth).
_base_ = './peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py'

model = dict(backbone=dict(depth=152, init_cfg=dict(checkpoint='torchvision://resnet152')))
