# `make demo PRESET=gpu` fine-tuning initialised from the GPU demo's PeCLR backbone (tools/export_backbone.py
# output of peclr_resnet18_1xb256-1000it_synth-freihand-128px.py; tools/demo.py points init_cfg.checkpoint at its work dir). All labels.
_base_ = ['./td-reg25d_res18_1xb128-500it_synth-freihand3d-128x128.py']

model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', prefix='backbone.',
                  checkpoint='work_dirs/demo_gpu/pretrain/peclr_s0/backbone.pth')))
