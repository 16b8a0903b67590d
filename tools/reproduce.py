"""The demo's protocol at the paper's scale: real FreiHAND (+ YouTube3DHands), ResNet-50/152, GPUs.

    python tools/reproduce.py --data-root data/freihand --yt3dh-root data/youtube_3d_hands \\
        --preset paper --gpus 8 --dry-run          # print the commands and configs, run nothing
    python tools/reproduce.py --data-root data/freihand --preset paper --gpus 8

The same sequence of runs as ``tools/demo.py``, on the paper's configs (``configs/peclr/``,
``configs/freihand3d/``), through the upstream ``tools/train.py``/``tools/test.py``:

1. pretrain PeCLR and SimCLR with the release's recipe (ImageNet-initialised, 50:50 data, its views and inverse,
   Adam in LARS, 128 images per NT-Xent, 16 accumulated batches, fp16, 100 epochs; docs/fidelity.md);
2. export both backbones (``tools/export_backbone.py``);
3. fine-tune scratch / SimCLR / PeCLR initialisations on 10 % and 100 % of the FreiHAND labels;
4. test each on the FreiHAND evaluation split with ``FreiHandMetric``, writing the Codalab ``pred.json``.

Without ``--yt3dh-root`` the pretraining uses FreiHAND's training images only
(``configs/peclr/peclr_resnet50_1xb128-accum16-amp-100e_freihand-128px.py``). With ``--gpus N`` the runs go
through ``torch.distributed.run`` and the pretraining splits the release's 128-image batch over the GPUs
(``128 / N`` each, gathered into one NT-Xent); the fine-tuning learning rate is scaled from the paper's 8 x 64 with mmpose's
``--auto-scale-lr``. A finished stage is skipped on a rerun when its command, config, data and upstream
outputs are unchanged; ``--force`` reruns. The plan is
:func:`peclr_lab.experiments.plan.paper_plan`; this script is its argument parser.
"""
from __future__ import annotations

import sys

from peclr_lab.experiments.cli import reproduce_main

if __name__ == '__main__':
    sys.exit(reproduce_main())
