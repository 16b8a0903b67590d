"""Safe loading of mmengine checkpoints under torch's default ``weights_only=True``.

torch >= 2.6 unpickles checkpoints with an allow-list. mmengine checkpoints hold a few objects outside
torch's default list: the message hub's ``HistoryBuffer`` (with numpy arrays inside), numpy scalars and
arrays in ``meta`` and ``hook_msgs``. We add exactly those classes/functions to torch's allow-list; any
other global (e.g. an ``os.system`` in a ``__reduce__`` payload) is still refused by torch.
"""
from __future__ import annotations

import importlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Dict

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: `import peclr_mm.checkpoint` stays light
    import torch

# Globals an mmengine (0.10.x) checkpoint of this project may reference, by import path. Only data
# containers and their reconstructors: none of them can execute code on load.
_SAFE_GLOBALS = (
    "mmengine.logging.history_buffer.HistoryBuffer",
    "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "numpy.ndarray",
    "numpy.dtype",
    "collections.OrderedDict",
    "collections.defaultdict",
    "builtins.bytes",  # protocol-2 pickles store empty numpy buffers (e.g. mmpose hand sigmas=[]) as bytes()
    "builtins.set",
    "builtins.frozenset",
    "builtins.slice",
    "builtins.range",
    "builtins.complex",
)

_registered = False


class CorruptCheckpointError(ValueError):
    """A checkpoint file that torch cannot read at all (empty, truncated, not a torch file)."""


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint references a global outside the allow-list (possibly code): it is not loaded."""


def _resolve(path: str) -> Any | None:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # e.g. mmengine not installed: nothing to allow
        return None


def safe_globals() -> list[Any]:
    """The allow-listed objects: the entries above plus numpy's concrete dtype classes (``Float64DType``…)."""
    objs = [o for o in (_resolve(p) for p in _SAFE_GLOBALS) if o is not None]
    objs += [type(np.dtype(c)) for c in np.typecodes["All"] if c not in "Mm"]
    objs += [type(np.dtype("M8[s]")), type(np.dtype("m8[s]"))]
    return list(dict.fromkeys(objs))


def _history_buffer_getstate(self: Any) -> dict:
    """Pickle a ``HistoryBuffer`` as data only.

    mmengine's own ``__getstate__`` stores the statistics *functions* (``min``, ``max``, …), which pickle as
    ``getattr(HistoryBuffer, 'min')``: a call that safe loading must refuse, since ``getattr`` reaches any
    attribute of any allowed object. Those functions are class-level registrations that exist at load time
    anyway (mmengine's ``__setstate__`` tolerates their absence), so nothing is lost.
    """
    return {k: v for k, v in self.__dict__.items() if k != "statistics_methods"}


def load_checkpoint(filename: str, map_location: Any = "cpu") -> Any:
    """``torch.load`` with ``weights_only=True`` and the allow-list; one-line errors naming the file.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: the file references a global that is not allow-listed.
    """
    import os
    import pickle

    import torch

    register_safe_globals()
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"{filename}: checkpoint file not found")
    if os.path.getsize(filename) == 0:
        raise CorruptCheckpointError(f"{filename}: empty file (0 bytes), not a checkpoint")
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except (EOFError, IndexError, KeyError, ValueError, RuntimeError) as err:
        # truncated zip ("PytorchStreamReader failed ..."), text or other non-torch files: torch raises
        # assorted low-level errors with multi-line messages
        first = str(err).strip().splitlines()[0] if str(err).strip() else ''
        first = f"{type(err).__name__} {first.split('. ')[0]}".strip()
        raise CorruptCheckpointError(f"{filename}: not a readable torch checkpoint (truncated or not "
                                     f"torch.save output): {first[:160]}") from None
    except pickle.UnpicklingError as err:
        # torch's message is a multi-paragraph how-to; keep the line that names the refused global.
        lines = [ln.strip() for ln in str(err).splitlines() if "GLOBAL" in ln or "Unsupported" in ln]
        if not lines and "invalid load key" in str(err):
            raise CorruptCheckpointError(f"{filename}: not a torch checkpoint (invalid load key)") from None
        if any("getattr" in ln for ln in lines):
            lines[0] += " (a checkpoint saved without peclr_mm's safe HistoryBuffer pickling?)"
        why = lines[0] if lines else str(err).splitlines()[0]
        raise UnsafeCheckpointError(
            f"{filename}: refused by torch safe loading (weights_only=True): {why}") from None


def register_safe_globals() -> None:
    """Allow-list mmengine's checkpoint contents for torch's safe loading (idempotent; no-op without torch).

    Also routes mmengine's local-file checkpoint loader (used by ``Runner.resume``/``load_from`` and by
    ``init_cfg=dict(type='Pretrained')``) through :func:`load_checkpoint`, which always passes
    ``weights_only=True`` and turns a refusal into a one-line error naming the file.
    """
    global _registered
    if _registered:
        return
    try:
        import torch.serialization as ts
    except ImportError:
        return
    ts.add_safe_globals(safe_globals())
    try:
        from mmengine.logging.history_buffer import HistoryBuffer
        from mmengine.runner.checkpoint import CheckpointLoader
    except ImportError:
        pass
    else:
        HistoryBuffer.__getstate__ = _history_buffer_getstate
        def load_from_local_safe(filename: str, map_location: Any = None) -> Any:
            return load_checkpoint(filename, map_location)

        CheckpointLoader.register_scheme(prefixes="", loader=load_from_local_safe, force=True)
    _registered = True


PREFIX = "backbone."


def load_checkpoint_safe(path: str) -> dict:
    """:func:`peclr_mm.checkpoint.load_checkpoint` (weights-only, allow-listed, on CPU) of a dict checkpoint."""
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: expected a dict checkpoint, got {type(ckpt).__name__}')
    return ckpt


def state_dict_of(ckpt: dict, path: str) -> Dict[str, torch.Tensor]:
    """The checkpoint's ``state_dict`` (or the dict itself): tensors only, ``module.`` prefixes removed."""
    import torch

    sd = ckpt.get('state_dict', ckpt)
    if not isinstance(sd, dict) or not sd:
        raise ValueError(f'{path}: field "state_dict" missing or empty')
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f'{path}: field "state_dict" holds non-tensor values ({len(bad)} of {len(sd)}, e.g. '
                         f'"{bad[0]}": {type(sd[bad[0]]).__name__})')
    # DDP-wrapped models save "module." prefixes.
    return OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in sd.items())


def extract_backbone(path: str, prefix: str = PREFIX) -> Dict[str, torch.Tensor]:
    """Backbone tensors of a checkpoint (pretraining, exported backbone or top-down model), keys kept with
    ``prefix``; one-line errors name the file and, when no key matches, the key groups found (with examples)."""
    sd = state_dict_of(load_checkpoint_safe(path), path)
    out = OrderedDict((k, v.detach().clone()) for k, v in sd.items() if k.startswith(prefix))
    if not out:
        tops = sorted({k.split('.', 1)[0] + '.*' for k in sd})
        raise ValueError(f'{path}: no "{prefix}*" weights in state_dict; found {len(sd)} keys under {tops[:8]} '
                         f'(e.g. {list(sd)[:3]})')
    return out
