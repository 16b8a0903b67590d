# ResNet-50 2.5-D fine-tuning on FreiHAND at 224 px, initialised from ImageNet (torchvision weights).
# Semi-supervised protocol: labels of 10 % of the unique training samples (seed 0).
_base_ = [
    '../_base_/freihand3d_runtime.py',
    '../_base_/freihand3d_dataset.py',
    '../_base_/freihand3d_reg25d_res50.py',
]
custom_imports = dict(imports=['peclr_mm.pose'], allow_failed_imports=False)

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
train_dataloader = dict(dataset=dict(label_fraction=0.1, seed=0))
