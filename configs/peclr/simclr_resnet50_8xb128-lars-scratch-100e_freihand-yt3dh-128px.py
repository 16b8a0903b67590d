# SimCLR, our variant (not the release's recipe: tracked views, SGD-LARS, 8 x 128 gathered, random init), on the
# data, pipeline, projection and schedule of our PeCLR variant: PeCLR with nothing undone, whose
# loss equals mmpretrain's SimCLR (tests/test_selfsup_peclr.py) but whose cross-rank gather has the correct
# gradient (mmpretrain's GatherLayer drops the other ranks' terms).
_base_ = './peclr-exact_resnet50_8xb128-lars-scratch-100e_freihand-yt3dh-128px.py'

model = dict(undo=())
