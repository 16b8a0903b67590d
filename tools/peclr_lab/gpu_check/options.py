"""The check's command lines: the project's paper-scale configs (:func:`configs`) turned into short runs by
``--cfg-options`` only (data roots, an iteration budget, random initialisation, the device's precision),
launched through torchrun (:func:`torchrun`)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..config_options import config_value, fp32_wrapper_options
from ..runner import PY
from .sizes import Sizes

# --tiny: the same configs at ResNet-18 width 16 (8 x 16 = 128 output channels), plain BN (SyncBN refuses CPU
# tensors inside a process group) and gloo.
TINY_BACKBONE = ['model.backbone.depth=18', 'model.backbone.stem_channels=16', 'model.backbone.base_channels=16']
TINY_PRETRAIN_MODEL = [*TINY_BACKBONE, 'model.neck.in_channels=128', 'model.backbone.norm_cfg.type=BN',
                       'model.neck.norm_cfg.type=BN1d']
TINY_FINETUNE_MODEL = [*TINY_BACKBONE, 'model.head.in_channels=128']
# The device machine cannot download the release configs' ImageNet weights (torchvision://resnet50): the check
# measures speed and numerics from mmpretrain's random initialisation.
NO_DOWNLOAD = ['model.backbone.init_cfg=None']


def configs() -> dict[str, Path]:
    """The project's paper-scale configs that the check runs (from the config table)."""
    from ..experiments.config_table import finetune_config, pretrain_config
    return dict(peclr=pretrain_config('peclr', 'rn50')[0], simclr=pretrain_config('simclr', 'rn50')[0],
                finetune=finetune_config('peclr', 1.0, 'rn50')[0])


def scratch_config() -> Path:
    """The fine-tuning config without a pretrained backbone: the check's fallback when the export failed."""
    from ..experiments.config_table import finetune_config
    return finetune_config('scratch', 1.0, 'rn50')[0]


def _loop(iters: int, window: int, val: bool = False, keep_sampler: bool = False) -> list[str]:
    """An iteration budget for an epoch-based config: a fresh IterBasedTrainLoop (``_delete_`` drops
    ``max_epochs``), an infinite sampler (no stall at epoch ends) unless ``keep_sampler`` (the release's
    50:50 sampler), log records every ``window`` iterations over windows of that size, one checkpoint at the
    end."""
    opts = ['train_cfg._delete_=True', 'train_cfg.type=IterBasedTrainLoop', f'train_cfg.max_iters={iters}',
            *([] if keep_sampler else ['train_dataloader.sampler.type=InfiniteSampler']),
            'log_processor.by_epoch=False', f'log_processor.window_size={window}',
            f'default_hooks.logger.interval={window}', 'default_hooks.checkpoint.by_epoch=False',
            f'default_hooks.checkpoint.interval={iters}', 'randomness.seed=0']
    if val:
        opts.append(f'train_cfg.val_interval={iters}')
    return opts


def _speed(sizes: Sizes, config: Path | None = None) -> list[str]:
    """Device options. A ``config`` whose wrapper is AMP already (the release's fp16) keeps it on the GPU and
    becomes fp32 on the CPU; otherwise bf16 AMP on the GPU."""
    amp_config = config is not None and config_value(config, [], 'optim_wrapper.type') == 'AmpOptimWrapper'
    if sizes.device == 'cpu':
        return ['env_cfg.dist_cfg.backend=gloo', *(fp32_wrapper_options(config) if amp_config else [])]
    opts = ['env_cfg.cudnn_benchmark=True']  # fixed input sizes: the same for every run of the check
    if sizes.amp and not amp_config:
        opts += ['optim_wrapper.type=AmpOptimWrapper', 'optim_wrapper.dtype=bfloat16']
    return opts


def _loader(split: str, batch: int | None, workers: int | None) -> list[str]:
    opts = [] if batch is None else [f'{split}_dataloader.batch_size={batch}']
    return opts + ([] if workers is None else [f'{split}_dataloader.num_workers={workers}'])


def pretrain_options(sizes: Sizes, freihand: Path, yt3dh: Path, config: Path) -> list[str]:
    """--cfg-options of a pretraining run of ``config`` (PeCLR and SimCLR alike): its own sampler and
    precision, random initialisation (:data:`NO_DOWNLOAD`)."""
    opts = [f'train_dataloader.dataset.datasets.0.data_root={freihand}/',
            f'train_dataloader.dataset.datasets.1.data_root={yt3dh}/', *NO_DOWNLOAD,
            *_loop(sizes.pretrain_iters, sizes.window, keep_sampler=True), *_speed(sizes, config),
            *_loader('train', sizes.pretrain_batch, sizes.workers)]
    if sizes.device == 'cpu':
        opts += [*TINY_PRETRAIN_MODEL, 'custom_hooks.0.num_samples=4']
    return opts


def finetune_options(sizes: Sizes, freihand: Path, backbone: Path | None) -> list[str]:
    """--cfg-options of the fine-tuning run (validation on the held-out 5 % at its last iteration);
    ``backbone``: the exported pretrained weights (None: the scratch config's initialisation)."""
    opts = [f'{split}_dataloader.dataset.data_root={freihand}/' for split in ('train', 'val', 'test')]
    if backbone is not None:
        opts.append(f'model.backbone.init_cfg.checkpoint={backbone}')
    opts += [*_loop(sizes.finetune_iters, sizes.window, val=True),
             *_speed(sizes), *_loader('train', sizes.finetune_batch, sizes.workers),
             *_loader('val', sizes.finetune_batch, sizes.workers)]
    if sizes.device == 'cpu':
        opts += TINY_FINETUNE_MODEL
    return opts


def test_options(sizes: Sizes, freihand: Path, pred: Path) -> list[str]:
    opts = [f'test_dataloader.dataset.data_root={freihand}/', f'test_evaluator.pred_json={pred}',
            *_loader('test', sizes.finetune_batch, sizes.workers)]
    if sizes.device == 'cpu':
        opts += TINY_FINETUNE_MODEL
    return opts


def torchrun(script: Path, config: Path, work: Path, options: Sequence[str]) -> list[str]:
    """One process through torch.distributed.run and ``--launcher pytorch``: the multi-GPU code path (process
    group, SyncBN, DDP wrapper, PeCLR's gather) on one device."""
    return [PY, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '1', str(script), str(config),
            '--launcher', 'pytorch', '--work-dir', str(work), '--cfg-options', *options]
