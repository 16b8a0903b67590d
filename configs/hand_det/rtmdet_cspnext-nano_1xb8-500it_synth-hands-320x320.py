# A hand detector for the 3-D inferencer's detector path (Hand25DInferencer(det_model=..., det_weights=...,
# det_cat_ids=0)), trained here on CPU because mmpose's RTMDet-nano hand weights cannot be downloaded: the
# same architecture (mmpose's demo/mmdetection_cfg/rtmdet_nano_320-8xb32_hand.py, inherited below; mmengine's
# `mmpose::` prefix only reaches <mmpose>/.mim/configs, so the path climbs out of its _base_ folder) trained
# from scratch on synthetic composites (peclr_lab.synthetic.make_synthetic_hand_detection:
#   python tools/make_synthetic_hand_detection.py data/synthetic_hand_det --num-train 4000 --num-val 300
# ) with mmdet's upstream tools/train.py. Changes from mmpose's recipe, all for a short single-CPU run:
# - the synthetic COCO set instead of OneHand10K/FreiHAND/RHD/Halpe, images without hands kept (negatives);
# - mmpose's second-stage pipeline (random resize and crop, HSV, flip) throughout, no CachedMosaic/MixUp,
#   resized by 0.5-1.2 and padded per batch to a multiple of 32 instead of to 320 x 320 (cheaper on CPU);
# - an iteration schedule (linear warm-up, then cosine to train_cfg.max_iters) at batch 8, AdamW lr 2e-3;
# - BN instead of SyncBN (one process; the parameters are the same, so the weights load either way).
# On a shared 2-core CPU run it with OMP_NUM_THREADS=1: two OpenMP threads fighting other processes were
# 8x slower per iteration here.
_base_ = ['mmpose::_base_/../../demo/mmdetection_cfg/rtmdet_nano_320-8xb32_hand.py']

default_scope = 'mmdet'
# Imported for peclr_mm's checkpoint safety only (no component of it is used): checkpoints are then written
# with its safe HistoryBuffer pickling, so they load under torch's weights_only=True (mmdet's DetInferencer,
# Hand25DInferencer's detector path).
custom_imports = dict(imports=['peclr_mm.pose'], allow_failed_imports=False)
data_root = 'data/synthetic_hand_det/'
max_iters = 500   # the length: a fixed warm-up, then the cosine runs to train_cfg.max_iters
warmup_iters = 50
metainfo = dict(classes=('hand', ))
norm_cfg = dict(type='BN')

# mmengine tags every dict of the mmpose file with `_scope_='mmpose'`, where RandomFlip is mmpose's
# keypoint flip and PackDetInputs does not exist: the detection pipelines are mmdet's.
train_pipeline = [
    dict(t, _scope_='mmdet', **(dict(ratio_range=(0.5, 1.2)) if t.type == 'RandomResize' else {}))
    for t in _base_.train_pipeline_stage2 if t.type != 'Pad'
]
test_pipeline = [dict(t, _scope_='mmdet') for t in _base_.test_pipeline]

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(norm_cfg=norm_cfg), neck=dict(norm_cfg=norm_cfg), bbox_head=dict(norm_cfg=norm_cfg))

train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    pin_memory=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=False, min_size=8),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        _delete_=True,
        type='CocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=warmup_iters, start_factor=1e-3, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=warmup_iters, eta_min=1e-5, by_epoch=False),  # to train_cfg.max_iters
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True, priority=49),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
