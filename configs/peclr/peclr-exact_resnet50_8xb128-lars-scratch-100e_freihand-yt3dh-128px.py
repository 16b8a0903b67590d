# PeCLR, our variant (not the release's recipe): exact inverse on tracked views, SGD-based LARS (lr 2.4), 8 GPUs
# x 128 images gathered into one NT-Xent (1,024 images), random initialisation. FreiHAND + YouTube3DHands
# concatenated, 128 px views, NT-Xent at T = 0.5, warm-up + cosine, 100 epochs, 2,048 images per step. The
# release's recipe: peclr_resnet50_1xb128-accum16-amp-100e_freihand-yt3dh-128px.py (docs/fidelity.md).
_base_ = [
    '../_base_/peclr-exact_resnet50.py',
    '../_base_/peclr-tracked_freihand-yt3dh_128px.py',
    '../_base_/selfsup_lars-coslr-100e_bs2048.py',
    '../_base_/peclr_runtime.py',
]
