# PeCLR as the official release trains it (github.com/dahiyaaneesh/peclr, README ResNet-50 command): ResNet-50
# from ImageNet weights, FreiHAND + YouTube3DHands 50:50, the release's 128 px views and inverse, NT-Xent at
# T = 0.5 over 128 images, Adam in LARS over 16 accumulated batches, warm-up + cosine, fp16, 100 epochs.
# Line by line against the release: docs/fidelity.md.
_base_ = [
    '../_base_/peclr_resnet50.py',
    '../_base_/peclr_freihand-yt3dh_128px.py',
    '../_base_/peclr_adam-lars-coslr-100e_1xb128-accum16.py',
    '../_base_/peclr_runtime.py',
]
