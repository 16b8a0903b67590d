# mmpretrain ViT-B/16 2.5-D fine-tuning on FreiHAND at 224 px (14 x 14 patches), initialised from the backbone
# of configs/peclr/peclr_vit-base-p16_8xb128-100e_freihand-yt3dh-128px.py (tools/export_backbone.py output;
# override the path with --cfg-options model.backbone.init_cfg.checkpoint=PATH); the 8 x 8 position embedding
# of the 128 px pretraining is interpolated to 14 x 14 when the weights load. The backbone comes from
# mmpretrain's registry through the scope prefix and returns the LayerNorm-ed mean patch token (B, 768), so
# there is no pooling neck.
_base_ = ['./td-reg25d_convnext-tiny-peclr_8xb64-100e_freihand3d-224x224.py']  # a pooled 768-d feature, no neck

model = dict(backbone=dict(
    _delete_=True,
    type='mmpretrain.VisionTransformer',
    arch='base',
    img_size=224,
    patch_size=16,
    out_type='avg_featmap',
    final_norm=False,
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint='checkpoints/peclr_vit-base-p16_backbone.pth')))
