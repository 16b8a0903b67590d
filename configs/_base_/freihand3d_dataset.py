# FreiHAND 3-D data at 224 px (the input size and the codec live here only): whole-image boxes (as mmpose's 2-D FreiHAND), camera-consistent
# crop/scale/rotation (TopdownAffine3D keeps K' = A K), 2.5-D targets (Hand25D).
# data_root: the environment variable FREIHAND_ROOT when set (mmengine's environment-variable substitution), else data/freihand/.
# A top-level `--cfg-options data_root=PATH` changes nothing (the dataloaders copied the value when the file was
# read); set the three: train_dataloader.dataset.data_root=PATH val_dataloader.dataset.data_root=PATH
# test_dataloader.dataset.data_root=PATH
# No collate_fn: the Runner's default is pseudo_collate, and mmengine's inferencers need the key absent
# (a dict there breaks MMPoseInferencer), as in mmpose's own configs.
data_root = '{{$FREIHAND_ROOT:data/freihand/}}'
dataset_type = 'FreiHand3DDataset'
data_mode = 'topdown'  # read by mmpose's inferencers (MMPoseInferencer), as in mmpose's configs
codec = dict(type='Hand25D', input_size=(224, 224))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='RandomBBoxTransform', shift_factor=0.1, scale_factor=(0.8, 1.2), rotate_factor=90),
    dict(type='TopdownAffine3D', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackHand3DInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='TopdownAffine3D', input_size=codec['input_size']),
    dict(type='PackHand3DInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # the z-root MLP has BatchNorm
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', val_ratio=0.05,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', val_ratio=0.05,
                 test_mode=True, pipeline=val_pipeline))
# The FreiHAND evaluation split (3,960 samples). Add
# --cfg-options test_evaluator.pred_json=work_dirs/NAME/pred.json to write a Codalab submission.
test_dataloader = dict(
    val_dataloader,
    dataset=dict(type=dataset_type, data_root=data_root, split='test', test_mode=True, pipeline=val_pipeline))

val_evaluator = dict(type='FreiHandMetric')
test_evaluator = dict(type='FreiHandMetric')
