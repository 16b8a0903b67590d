"""Every config the demo, the paper-scale plan and the GPU check run: one table, ``configs.tsv`` beside this
module, read into :data:`CONFIGS`.

A key is ``(kind, arm, scale, variant)``:

- ``kind``: ``'pretrain'`` (mmpretrain's ``tools/train.py``) or ``'finetune'`` (mmpose's train / test);
- ``arm``: the pretraining algorithm (:data:`ALGOS`: ``simclr``, ``simclr-app`` (SimCLR whose two views
  differ in appearance only), ``peclr``) or the fine-tuning's initialisation (``scratch`` or an algorithm);
- ``scale``: the demo's CPU configs (``'demo'``: half-width ResNet-18 at 64 px), its GPU configs
  (``'demo-gpu'``: full-width ResNet-18 at 128 px, bf16) or a paper-scale backbone (``'rn50'``, ``'rn152'``);
- ``variant``: the pretraining data (``'synthetic'``: the demo's synthetic FreiHAND; ``'freihand-yt3dh'`` or
  ``'freihand'``) or the fine-tuning's labelled share with a config of its own (``'100pct'``, ``'10pct'``).

:func:`pretrain_config` and :func:`finetune_config` look configs up here; the few paper-scale combinations
without a config of their own are a listed config with ``--cfg-options``. A renamed config fails
``tests/test_experiments.py`` (every path here must exist), not a demo at run time.
"""
from __future__ import annotations

from pathlib import Path

from ..runner import ROOT

INITS = ('scratch', 'simclr', 'simclr-app', 'peclr')  # the demo's initialisations, in table order
ALGOS = ('simclr', 'simclr-app', 'peclr')  # the demo's pretraining algorithms (the non-scratch inits)
PAPER_INITS = ('scratch', 'simclr', 'peclr')  # the paper-scale protocol's (no appearance-only SimCLR config)
FRACTIONS = (0.1, 1.0)  # label fractions with a config of their own
DEMO_SCALES = ('demo', 'demo-gpu')
ARCH_DEPTH = {'rn50': 50, 'rn152': 152}  # paper-scale backbones

TABLE = Path(__file__).with_name('configs.tsv')


def read_table(path: Path = TABLE) -> dict[tuple[str, str, str, str], str]:
    """``(kind, arm, scale, variant) -> config path`` (from the repository root) of a table file like
    ``configs.tsv``: whitespace-separated columns, ``#`` comments."""
    table = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        row = line.split('#', 1)[0].split()
        if not row:
            continue
        if len(row) != 5:
            raise ValueError(f'{path}:{number}: expected kind, arm, scale, variant and config, got {line!r}')
        if tuple(row[:4]) in table:
            raise ValueError(f'{path}:{number}: {" ".join(row[:4])} listed twice')
        table[tuple(row[:4])] = row[4]
    return table


CONFIGS = read_table()


def pct(fraction: float) -> str:
    return f'{round(fraction * 100)}pct'


def config_path(kind: str, arm: str, scale: str, variant: str) -> Path:
    """The config of one :data:`CONFIGS` key (absolute); a ``KeyError`` naming the key when there is none."""
    try:
        return ROOT / CONFIGS[kind, arm, scale, variant]
    except KeyError:
        raise KeyError(f'no {kind} config for {arm!r} at scale {scale!r} ({variant}) in '
                       'peclr_lab.experiments.config_table.CONFIGS') from None


def pretrain_config(algo: str, arch: str = 'demo', yt3dh: bool = True) -> tuple[Path, list[str]]:
    """The pretraining config of ``algo`` and extra --cfg-options. ``arch``: a demo scale (:data:`DEMO_SCALES`,
    the synthetic data) or a paper-scale backbone (:data:`ARCH_DEPTH`: the release's recipe on FreiHAND +
    YouTube3DHands or, ``yt3dh=False``, FreiHAND only). A paper-scale combination without a config of its own
    is the PeCLR ResNet-50 config of that data with the backbone depth (and its ImageNet file) and (SimCLR:
    nothing undone) ``model.undo`` changed."""
    if arch in DEMO_SCALES:
        return config_path('pretrain', algo, arch, 'synthetic'), []
    data = 'freihand-yt3dh' if yt3dh else 'freihand'
    if ('pretrain', algo, arch, data) in CONFIGS:
        return config_path('pretrain', algo, arch, data), []
    depth = ARCH_DEPTH[arch]
    extra = [] if arch == 'rn50' else [f'model.backbone.depth={depth}',
                                       f'model.backbone.init_cfg.checkpoint=torchvision://resnet{depth}']
    extra += [] if algo == 'peclr' else ['model.undo=()']
    return config_path('pretrain', 'peclr', 'rn50', data), extra


def finetune_config(init: str, fraction: float, arch: str = 'demo') -> tuple[Path, list[str]]:
    """The fine-tuning config of an initialisation and label fraction and extra --cfg-options: the config of
    that fraction for 10 % and 100 % (:data:`FRACTIONS`), otherwise the 100 % one with ``label_fraction`` set.
    ``arch``: a demo scale (:data:`DEMO_SCALES`) or a paper-scale backbone (:data:`ARCH_DEPTH`)."""
    if fraction in FRACTIONS:
        return config_path('finetune', init, arch, pct(fraction)), []
    return config_path('finetune', init, arch, '100pct'), [f'train_dataloader.dataset.label_fraction={fraction}']
