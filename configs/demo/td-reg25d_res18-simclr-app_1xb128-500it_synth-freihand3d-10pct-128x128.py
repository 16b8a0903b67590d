# `make demo PRESET=gpu` fine-tuning initialised from the GPU demo's appearance-only SimCLR backbone, with the labels of 10 %
# of the unique training samples (seed 0), the same iterations as with 100 %.
_base_ = ['./td-reg25d_res18-simclr-app_1xb128-500it_synth-freihand3d-128x128.py']

train_dataloader = dict(dataset=dict(label_fraction=0.1, seed=0))
