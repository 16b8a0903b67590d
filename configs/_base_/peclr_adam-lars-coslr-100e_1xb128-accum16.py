# Pretraining schedule as the official release (src/models/base_model.py configure_optimizers; README:
# -batch_size 128 -accumulate_grad_batches 16, precision 16): Adam with lr 1e-4 x sqrt(128 x 16), weight
# decay 1e-6 except parameters whose release name contains 'bias' or 'bn', wrapped in bolts 0.2.2 LARSWrapper
# (eta 0.02, clip); linear warm-up from 0 over 10 epochs, then cosine to 0 at 100 epochs, stepped per optimizer
# step; fp16 mixed precision with a dynamic loss scale. NT-Xent over one batch of 128 images, gradient
# accumulated over 16 batches (2,048 images per step).
# Other GPU counts: keep 128 images in one NT-Xent and 2,048 per step with G GPUs x
# train_dataloader.batch_size = 128 / G (the gather joins the ranks' negatives, SyncBN their statistics) and
# accumulative_counts = 16 (and accumulative_counts in param_scheduler).
accumulative_counts = 16
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    optimizer=dict(type='LARSAdam', lr=1e-4 * (128 * accumulative_counts) ** 0.5, weight_decay=1e-6, eta=0.02,
                   clip=True, lars_eps=1e-8),
    accumulative_counts=accumulative_counts,
    constructor='ReleaseWeightDecayConstructor')

param_scheduler = [
    dict(type='LinearWarmupCosineAnnealingLR', warmup_epochs=10, max_epochs=100,
         accumulative_counts=accumulative_counts, warmup_start_lr=0.0, eta_min=0.0, by_epoch=True,
         convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
