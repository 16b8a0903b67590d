# `make demo PRESET=gpu` SimCLR baseline with the GPU PeCLR demo's exact budget: the same data, views, backbone,
# projection, temperature, optimiser, schedule and seed, but mmpretrain's own `SimCLR` algorithm (invariant to
# every augmentation), as simclr_resnet18-w32_...-64px.py is for the CPU demo.
_base_ = ['./peclr_resnet18_1xb256-1000it_synth-freihand-128px.py']

model = dict(_delete_=True, type='SimCLR', backbone={{_base_.model.backbone}}, neck={{_base_.model.neck}},
             head={{_base_.model.head}})
