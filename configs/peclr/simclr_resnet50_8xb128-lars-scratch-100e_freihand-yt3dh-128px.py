# SimCLR baseline on the same data, pipeline, projection and schedule: PeCLR with nothing undone, whose
# loss equals mmpretrain's SimCLR (tests/test_selfsup_peclr.py) but whose cross-rank gather has the correct
# gradient (mmpretrain's GatherLayer drops the other ranks' terms).
_base_ = './peclr_resnet50_8xb128-100e_freihand-yt3dh-128px.py'

model = dict(undo=())
