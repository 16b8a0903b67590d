# PeCLR with mmpretrain's ViT-B/16 at 128 px views (8 x 8 patches), our variant (exact inverse, tracked views,
# SGD-LARS, random init; not the release's recipe): its data, views, projection, loss and LARS schedule with
# the ResNet-50 swapped out. The backbone returns the mean of the patch
# tokens after one LayerNorm (out_type='avg_featmap', final_norm=False, as mmpretrain's MAE/BEiT fine-tuning
# configs), one (B, 768) feature, so the projection does no pooling of its own (with_avg_pool=False). LARS skips
# LayerNorm and biases by type (LARSByTypeConstructor in the schedule). Not trained here, and the schedule is
# the ResNet paper schedule, not tuned for ViT. Fine-tuning at 224 px interpolates pos_embed on loading.
_base_ = ['./peclr-exact_resnet50_8xb128-lars-scratch-100e_freihand-yt3dh-128px.py']

model = dict(
    backbone=dict(_delete_=True, type='VisionTransformer', arch='base', img_size=128, patch_size=16,
                  out_type='avg_featmap', final_norm=False, drop_path_rate=0.0),
    neck=dict(in_channels=768, with_avg_pool=False))
