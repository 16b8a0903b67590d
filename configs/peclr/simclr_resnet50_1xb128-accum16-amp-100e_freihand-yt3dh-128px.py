# SimCLR baseline as the release's SimCLR model (src/models/unsupervised/simclr_model.py) on the release's
# data, views, projection and schedule: PeCLR with nothing undone (normalise, NT-Xent), whose loss equals
# mmpretrain's SimCLR (tests/test_selfsup_peclr.py) with a correct cross-rank gradient.
_base_ = './peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py'

model = dict(undo=())
