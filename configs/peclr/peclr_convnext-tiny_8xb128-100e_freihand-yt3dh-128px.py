# PeCLR with mmpretrain's ConvNeXt-T, our variant (exact inverse, tracked views, SGD-LARS, random init; not the
# release's recipe): its data, views, projection, loss and LARS schedule with the ResNet-50 swapped out. ConvNeXt
# pools before its last LayerNorm (gap_before_final_norm=True) and returns one (B, 768) feature, so the
# projection does no pooling of its own (with_avg_pool=False). LARS skips LayerNorm2d, biases and the
# layer-scale gammas by type (LARSByTypeConstructor in the schedule). Not trained here, and the schedule is the
# ResNet schedule, not tuned for ConvNeXt.
_base_ = ['./peclr-exact_resnet50_8xb128-lars-scratch-100e_freihand-yt3dh-128px.py']

model = dict(
    backbone=dict(_delete_=True, type='ConvNeXt', arch='tiny', out_indices=-1, gap_before_final_norm=True,
                  drop_path_rate=0.0),
    neck=dict(in_channels=768, with_avg_pool=False))
