# The ResNet-50 release config on FreiHAND's training images only (all 4 versions; the release with
# -sources freihand), for when YouTube3DHands is not at hand (tools/reproduce.py without --yt3dh-root). As the
# release, the single source is still drawn with replacement.
_base_ = ['./peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py']

train_dataloader = dict(dataset=dict(datasets=[_base_.train_dataloader.dataset.datasets[0]]))
