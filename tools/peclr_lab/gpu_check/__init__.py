"""GPU readiness check (``tools/gpu_check.py``): the paper-scale configs, end to end, on one GPU in minutes.

One command, made for a short lease of a GPU machine that has torch but none of the OpenMMLab stack and no
network (docs/gpu.md):

1. install the wheelhouse (``tools/build_device_wheels.sh`` builds ``device_wheels/``) into a temporary
   ``--target`` folder, when the stack is not importable already (:mod:`.wheelhouse`);
2. render a synthetic FreiHAND set and a synthetic YouTube3DHands set from its evaluation frames, so the
   pretraining reads the paper's mixed dataset (:mod:`.data`);
3. numerical checks in a subprocess (:mod:`.numerics`): PeCLR's loss and gradients of the paper's ResNet-50
   on the GPU in fp32 (TF32 off) and bf16 autocast against float64 on the CPU, and the cross-rank gather
   (:class:`~peclr_mm.selfsup.gather._AllGather`) and PeCLR's loss through it under a 1-process NCCL group;
4. through the upstream ``tools/train.py`` (torchrun, 1 process, ``--launcher pytorch``: NCCL, SyncBN, DDP
   as on 8 GPUs) and the project's configs, each with ``--cfg-options`` only (:mod:`.options`: data roots, an
   iteration budget, random initialisation in place of the ImageNet download, bf16 AMP for the
   fine-tuning): the release-recipe PeCLR ResNet-50 at 128 px (its 50:50 sampler, views, LARS-wrapped Adam
   over 16 accumulated batches, fp16 AMP), the release's SimCLR on the same data and pipeline, then export
   of the PeCLR backbone and the 2.5-D ResNet-50 fine-tuning at 224 px from it, with a validation at the end
   and ``tools/test.py`` (``FreiHandMetric``) on the evaluation split (:mod:`.check`, each step a
   :func:`peclr_lab.runner.run_logged` subprocess);
5. images/s and the loader's share of each run from mmengine's ``vis_data/scalars.json`` (``time``,
   ``data_time``, warm-up windows left out), GPU utilisation and memory from ``nvidia-smi`` sampled every
   500 ms, peak memory from mmengine's logged ``memory`` and ``torch.cuda.max_memory_allocated``
   (:mod:`.measure`, :mod:`.device`);
6. ``gpu_check.json``, ``gpu_check.md`` and ``gpu_check_logs.tar.gz`` into ``--out`` (``$OUT`` on the
   device machine), the JSON rewritten after every step so a run cut short still reports what it did
   (:mod:`.report`).

:mod:`.sizes` holds what each mode runs; :mod:`.cli` is the command line. ``--tiny`` runs the same steps on
the CPU (ResNet-18 at width 16, a few iterations, fp32, gloo) in about a minute;
``tests/test_gpu_check.py`` runs it, so CI keeps the GPU path's code working between leases. Importing this
package (or :mod:`.cli`) imports neither torch nor the OpenMMLab packages.
"""
