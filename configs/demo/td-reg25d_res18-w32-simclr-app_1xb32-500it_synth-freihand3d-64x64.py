# `make demo` fine-tuning initialised from the demo's SimCLR backbone pretrained without geometric augmentation
# (tools/export_backbone.py output of simclr-appearance_resnet18-w32_1xb64-400it_synth-freihand-64px.py;
# tools/demo.py points init_cfg.checkpoint at its work dir). All labels.
_base_ = ['./td-reg25d_res18-w32_1xb32-500it_synth-freihand3d-64x64.py']

model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', prefix='backbone.',
                  checkpoint='work_dirs/demo/pretrain/simclr-app_s0/backbone.pth')))
