# mmpretrain ConvNeXt-T 2.5-D fine-tuning on FreiHAND at 224 px, initialised from the backbone of
# configs/peclr/peclr_convnext-tiny_8xb128-100e_freihand-yt3dh-128px.py (tools/export_backbone.py output;
# override the path with --cfg-options model.backbone.init_cfg.checkpoint=PATH). The backbone comes from
# mmpretrain's registry through the scope prefix and returns pooled, normalised (B, 768) features, so there is
# no pooling neck.
_base_ = ['./td-reg25d_res50_8xb64-100e_freihand3d-224x224.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch='tiny',
        out_indices=-1,
        gap_before_final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='checkpoints/peclr_convnext-tiny_backbone.pth')),
    neck=None,
    head=dict(in_channels=768))
