# ResNet-152 2.5-D fine-tuning on FreiHAND at 224 px, initialised from scratch (mmpose ResNet default initialisation).
_base_ = ['./td-reg25d_res50_8xb64-100e_freihand3d-224x224.py']

model = dict(backbone=dict(depth=152))
