# ResNet-152 2.5-D fine-tuning on FreiHAND at 224 px, initialised from ImageNet (torchvision weights).
_base_ = [
    '../_base_/freihand3d_runtime.py',
    '../_base_/freihand3d_dataset.py',
    '../_base_/freihand3d_reg25d_res50.py',
]
custom_imports = dict(imports=['peclr_mm.pose'], allow_failed_imports=False)

model = dict(backbone=dict(depth=152, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet152')))
