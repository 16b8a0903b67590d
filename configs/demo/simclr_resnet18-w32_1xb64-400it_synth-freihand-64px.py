# `make demo` SimCLR baseline with the PeCLR demo's exact budget: the same data, views, backbone, projection,
# temperature, optimiser, schedule and seed, but mmpretrain's own `SimCLR` algorithm (invariant to every
# augmentation; it ignores the tracked matrices that PackPeCLRInputs adds).
_base_ = ['./peclr_resnet18-w32_1xb64-400it_synth-freihand-64px.py']

model = dict(_delete_=True, type='SimCLR', backbone={{_base_.model.backbone}}, neck={{_base_.model.neck}},
             head={{_base_.model.head}})
