# ResNet-50 2.5-D fine-tuning on FreiHAND at 224 px, initialised from scratch (mmpose ResNet default initialisation).
_base_ = [
    '../_base_/freihand3d_runtime.py',
    '../_base_/freihand3d_dataset.py',
    '../_base_/freihand3d_reg25d.py',
]

model = dict(head=dict(decoder=_base_.codec))  # the head decodes with the data's codec
