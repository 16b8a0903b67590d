# Shared runtime for PeCLR / SimCLR pretraining: mmpretrain's default runtime, this plugin's components,
# logging and checkpoints, and the equivariance monitor.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['peclr_mm.selfsup'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))

# Equivariance of the projection on a fixed probe batch (positive-pair cosine with/without the undo, feature
# rank), logged to vis_data/scalars.json every 500 iterations; see docs/pretraining.md. Eval mode only: it
# is local to each rank (the train-mode measurement would run SyncBN's collective outside the loop).
custom_hooks = [dict(type='EquivarianceMonitorHook', interval=500, num_samples=128, bn_modes=('eval',))]

# mmpretrain's visualizer without the registry scope the `mmpretrain::` base adds to its dict, so that
# mmpretrain's tools/visualization/browse_dataset.py (which passes this dict to UniversalVisualizer itself)
# works on these configs; the Runner builds it in the default scope, mmpretrain.
visualizer = dict(_delete_=True, type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
