# PeCLR as in the paper: ResNet-50, FreiHAND + YouTube3DHands, 128 px views, NT-Xent at T = 0.5, LARS with
# warm-up and cosine, 100 epochs, effective batch 2048.
_base_ = [
    '../_base_/peclr_resnet50.py',
    '../_base_/peclr_freihand-yt3dh_128px.py',
    '../_base_/selfsup_lars-coslr-100e_bs2048.py',
    '../_base_/peclr_runtime.py',
]
