"""peclr-mm: PeCLR (Spurr et al., ICCV 2021) for mmpretrain and mmpose.

Importing ``peclr_mm`` is light: it imports neither torch, mmpretrain nor mmpose. The two halves register
their components when imported, which OpenMMLab configs do through ``custom_imports``:

- ``peclr_mm.selfsup``: pretraining components, registered in mmpretrain's registries;
- ``peclr_mm.pose``: FreiHAND 3-D fine-tuning and evaluation, registered in mmpose's registries.

Both halves also allow-list mmengine's checkpoint contents for torch's safe loading
(:func:`peclr_mm.checkpoint.register_safe_globals`), so resuming works under ``weights_only=True``.
"""
__version__ = "0.1.0"
