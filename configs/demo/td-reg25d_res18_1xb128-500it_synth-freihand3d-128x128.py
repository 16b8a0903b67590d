# `make demo PRESET=gpu` fine-tuning, initialised from scratch: the CPU demo's recipe
# (td-reg25d_res18-w32_1xb32-500it_...-64x64.py) at the scale of one GPU. What changes, and only that: a
# full-width ResNet-18 (as the GPU pretraining), 128 x 128 input (the codec, the crop of both pipelines and
# the head's decoder), batch 128 (test 256), bf16 autocast, cuDNN autotuning. The length (500 iterations,
# 25 of warm-up) and everything else are the CPU recipe's. tools/demo.py sets the loaders' workers from the
# machine's cores and the data roots.
_base_ = ['./td-reg25d_res18-w32_1xb32-500it_synth-freihand3d-64x64.py']

width = 64
codec = dict(type='Hand25D', input_size=(128, 128))
train_pipeline = [dict(t, input_size=codec['input_size']) if t.type == 'TopdownAffine3D'
                  else dict(t, encoder=codec) if t.type == 'GenerateTarget'
                  else t for t in _base_.train_pipeline]
val_pipeline = [dict(t, input_size=codec['input_size']) if t.type == 'TopdownAffine3D' else t
                for t in _base_.val_pipeline]

model = dict(
    backbone=dict(stem_channels=width, base_channels=width),
    head=dict(in_channels=8 * width, decoder=codec))
train_dataloader = dict(batch_size=128, num_workers=4, persistent_workers=True, pin_memory=True,
                        dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(batch_size=256, num_workers=4, dataset=dict(pipeline=val_pipeline))

optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
env_cfg = dict(cudnn_benchmark=True)
