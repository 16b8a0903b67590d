"""Safe loading of mmengine checkpoints under torch's default ``weights_only=True``.

torch >= 2.6 unpickles checkpoints with an allow-list. mmengine checkpoints hold a few objects outside
torch's default list: the message hub's ``HistoryBuffer`` (with numpy arrays inside), numpy scalars and
arrays in ``meta`` and ``hook_msgs``. We add exactly those classes/functions to torch's allow-list; any
other global (e.g. an ``os.system`` in a ``__reduce__`` payload) is still refused by torch.

Every mmengine checkpoint scheme (local files, ``torchvision://``, ``http(s)://``, ``open-mmlab://``,
``mmcls://``, ``s3://``, ``pavi://``) is loaded this way: remote files are resolved with mmengine's own URL
tables, read from or downloaded into torch's hub cache, then loaded with ``weights_only=True``.

An ``init_cfg=dict(type='Pretrained')`` load whose tensors do not fit the model (another width, depth or
architecture) or that fits none of its parameters (a wrong ``prefix``) raises :class:`CheckpointMismatchError`
instead of logging "size mismatch" lines and training on partly random weights
(:func:`load_pretrained_checked`). The changes to mmengine that route its loaders here are
:mod:`peclr_mm.compat.checkpoint_loading`'s.
"""
from __future__ import annotations

import difflib
import importlib
import io
import logging
import os
import re
import tempfile
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Dict
from urllib.parse import urlparse

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


class CheckpointMismatchError(ValueError):
    """A checkpoint whose tensors do not fit the model it loads into (an ``init_cfg=dict(type='Pretrained')``
    load, or :func:`peclr_mm.pose.inference.load_weights_strict`): no head, keys missing or left over, other
    shapes. The message is one line naming the checkpoint and the first offending key."""


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


def load_checkpoint(filename: str, map_location: Any = "cpu") -> Any:
    """``torch.load`` with ``weights_only=True`` and the allow-list; one-line errors naming the file.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: the file references a global that is not allow-listed.
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"{filename}: checkpoint file not found")
    if os.path.getsize(filename) == 0:
        raise CorruptCheckpointError(f"{filename}: empty file (0 bytes), not a checkpoint")
    return _safe_load(filename, filename, map_location)


def _safe_load(source: Any, name: str, map_location: Any) -> Any:
    """``torch.load(source, weights_only=True)`` (a path or a binary file object); errors name ``name``."""
    import pickle

    import torch

    register_safe_globals()
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except (EOFError, IndexError, KeyError, ValueError, RuntimeError) as err:
        # truncated zip ("PytorchStreamReader failed ..."), text or other non-torch files: torch raises
        # assorted low-level errors with multi-line messages
        first = str(err).strip().splitlines()[0] if str(err).strip() else ''
        first = f"{type(err).__name__} {first.split('. ')[0]}".strip()
        raise CorruptCheckpointError(f"{name}: not a readable torch checkpoint (truncated or not "
                                     f"torch.save output): {first[:160]}") from None
    except pickle.UnpicklingError as err:
        # torch's message is a multi-paragraph how-to; keep the line that names the refused global.
        lines = [ln.strip() for ln in str(err).splitlines() if "GLOBAL" in ln or "Unsupported" in ln]
        if not lines and "invalid load key" in str(err):
            raise CorruptCheckpointError(f"{name}: not a torch checkpoint (invalid load key)") from None
        if any("getattr" in ln for ln in lines):
            lines[0] += " (a checkpoint saved without peclr_mm's safe HistoryBuffer pickling?)"
        why = lines[0] if lines else str(err).splitlines()[0]
        raise UnsafeCheckpointError(
            f"{name}: refused by torch safe loading (weights_only=True): {why}") from None


# Remote checkpoints: mmengine's URL tables, torch's hub cache, never ``weights_only=False``.

OFFLINE_OPTION = "--cfg-options model.backbone.init_cfg.checkpoint=PATH"


class CheckpointUnavailableError(OSError):
    """A remote checkpoint that is neither in the torch hub cache nor downloadable."""


def hub_cache_path(url: str) -> str:
    """The file torch.hub (and mmengine) caches ``url`` as: ``<torch.hub.get_dir()>/checkpoints/<basename>``."""
    import torch.hub

    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))


def _reason(err: BaseException) -> str:
    """A short one-line reason of a failed download (``URLError.reason`` when there is one)."""
    why = getattr(err, "reason", None) or err
    why = getattr(why, "strerror", None) or why  # socket errors: the text without "[Errno -3]"
    text = " ".join(str(why).split()) or type(err).__name__
    return text[:80]


def fetch_url(url: str, name: str | None = None, check_hash: bool = False) -> str:
    """The hub cache file of ``url``, downloaded first when absent.

    ``torch.hub.download_url_to_file`` writes a temporary file beside the target and renames it, so the cache
    never holds a partial file. With ``check_hash`` a download must match the SHA-256 prefix in the file name
    (``resnet50-0676ba61.pth``), as torchvision checks its own downloads.

    Raises:
        CheckpointUnavailableError: the download failed; one line naming ``name``, the URL, the cache path
            and the config option that points at a local file instead.
    """
    import torch.hub

    cached = hub_cache_path(url)
    if os.path.isfile(cached):
        return cached
    match = torch.hub.HASH_REGEX.search(os.path.basename(cached)) if check_hash else None
    try:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        torch.hub.download_url_to_file(url, cached, match.group(1) if match else None, progress=os.isatty(0))
    except Exception as err:  # URLError, HTTPError, socket/SSL errors, http.client errors, hash mismatch
        head = f"{name}: cannot download {url}" if name and name != url else f"{url}: cannot download"
        raise CheckpointUnavailableError(
            f"{head} ({_reason(err)}); offline, put the file at {cached} or pass "
            f"{OFFLINE_OPTION}") from None
    return cached


def _load_url(url: str, map_location: Any, name: str | None = None, check_hash: bool = False) -> Any:
    """:func:`load_checkpoint` of :func:`fetch_url`; in distributed runs rank 0 downloads first."""
    from mmengine.dist import get_dist_info

    rank, world_size = get_dist_info()
    path = fetch_url(url, name, check_hash) if rank == 0 else None
    if world_size > 1:
        import torch.distributed

        torch.distributed.barrier()
        path = path or fetch_url(url, name, check_hash)
    return load_checkpoint(path, map_location)


def _model_url(urls: dict, model: str, filename: str) -> str:
    """``urls[model]``; an unknown name is one line with the closest known names."""
    if model not in urls:
        close = difflib.get_close_matches(model, list(urls), n=3)
        raise ValueError(f"{filename}: unknown model name {model!r} (closest: {', '.join(close) or 'none'})")
    return urls[model]


def _warn(msg: str) -> None:
    from mmengine.logging import print_log

    print_log(msg, logger="current", level=logging.WARNING)


# Scheme loaders: named ``load_from_*`` like mmengine's (its log line prints the name after ``load_from_``).

def load_from_local_safe(filename: str, map_location: Any = None) -> Any:
    """A local file, through :func:`load_checkpoint`."""
    return load_checkpoint(filename, map_location)


def load_from_http_safe(filename: str, map_location: Any = None) -> Any:
    """An ``http(s)://`` URL: the hub cache file (downloaded when absent), loaded weights-only."""
    return _load_url(filename, map_location)


def load_from_torchvision_safe(filename: str, map_location: Any = None) -> Any:
    """``torchvision://NAME`` (or the deprecated ``modelzoo://NAME``), resolved by mmengine's torchvision table;
    a download must match the SHA-256 prefix in its file name."""
    from mmengine.runner import checkpoint as mc

    scheme, _, model = filename.partition("://")
    if scheme == "modelzoo":
        _warn('The URL scheme of "modelzoo://" is deprecated, please use "torchvision://" instead')
    url = _model_url(mc.get_torchvision_models(), model, filename)
    return _load_url(url, map_location, filename, check_hash=True)


def load_from_openmmlab_safe(filename: str, map_location: Any = None) -> Any:
    """``open-mmlab://NAME`` / ``openmmlab://NAME``: mmengine's table (deprecated names mapped), a URL or a
    file under mmengine's home."""
    from mmengine.runner import checkpoint as mc

    scheme, _, model = filename.partition("://")
    deprecated = mc.get_deprecated_model_names()
    if model in deprecated:
        _warn(f"{scheme}://{model} is deprecated in favor of {scheme}://{deprecated[model]}")
        model = deprecated[model]
    url = _model_url(mc.get_external_models(), model, filename)
    if url.startswith(("http://", "https://")):
        return _load_url(url, map_location, filename)
    return load_checkpoint(os.path.join(mc._get_mmengine_home(), url), map_location)


def load_from_mmcls_safe(filename: str, map_location: Any = None) -> Any:
    """``mmcls://NAME``: mmengine's mmcls table; the ``backbone.*`` weights, prefix removed (as mmengine)."""
    from mmengine.runner import checkpoint as mc

    url = _model_url(mc.get_mmcls_models(), filename[len("mmcls://"):], filename)
    return mc._process_mmcls_checkpoint(_load_url(url, map_location, filename))


def load_from_ceph_safe(filename: str, map_location: Any = None, backend: str = "petrel") -> Any:
    """``s3://`` / ``petrel://`` (optionally ``PREFIX:s3://``): the bytes from mmengine's file backend."""
    from mmengine.fileio import get_file_backend

    data = get_file_backend(filename, backend_args={"backend": backend}).get(filename)
    with io.BytesIO(data) as buffer:
        return _safe_load(buffer, filename, map_location)


def load_from_pavi_safe(filename: str, map_location: Any = None) -> Any:
    """``pavi://PATH``: downloaded from pavi's modelcloud into a temporary folder."""
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(f"{filename}: install pavi to load checkpoints from its modelcloud") from None
    model = modelcloud.get(filename[len("pavi://"):])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, model.name)
        model.download(path)
        return _safe_load(path, filename, map_location)


# Pretrained loads that must not half-succeed.

# torch.nn.Module._load_from_state_dict's message for a tensor of another shape (unchanged since torch 1.0).
_SIZE_MISMATCH = re.compile(r"size mismatch for (\S+): copying a param with shape torch\.Size\((\[[^\]]*\])\) "
                            r"from checkpoint, the shape in current model is torch\.Size\((\[[^\]]*\])\)")


def _shape(text: str) -> str:
    """``'[16, 3, 7, 7]'`` -> ``'(16, 3, 7, 7)'``."""
    return f"({text[1:-1]})"


def key_groups(sd: dict) -> str:
    """``'found N keys under ['backbone.*', 'head.*'] (e.g. [...])'``: what a state_dict holds, for errors."""
    tops = sorted({k.split('.', 1)[0] + '.*' for k in sd})
    return f"found {len(sd)} keys under {tops[:8]} (e.g. {list(sd)[:3]})"


class _LoadProbe:
    """What torch reports while mmengine's ``load_state_dict`` loads a state_dict into ``module``.

    mmengine (0.10.x) calls ``module._load_from_state_dict`` for the root and every submodule with one shared
    ``error_msgs`` list (torch's "size mismatch for KEY: ..." lines) and shared missing/unexpected key lists,
    then runs the root's load-state-dict post-hooks. A pre-hook on the root keeps that list and the keys it is
    given (after the model's own pre-hooks, e.g. the ViT's position-embedding resize); the root's post-hook
    raises before mmengine logs anything. A module that mmengine unwraps (a model wrapper) never calls these
    hooks: nothing is checked there.
    """

    def __init__(self, module: Any, checkpoint: str, prefix: str) -> None:
        self.checkpoint, self.prefix = checkpoint, prefix
        self.keys: list[str] | None = None
        self.errors: list[str] | None = None
        self.handles = (module.register_load_state_dict_pre_hook(self._pre),
                        module.register_load_state_dict_post_hook(self._post))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def _pre(self, module, state_dict, prefix, local_metadata, strict, missing, unexpected, error_msgs) -> None:
        if self.errors is None and prefix == '':  # the root's call; the first, should the root be visited twice
            self.keys, self.errors = list(state_dict), error_msgs

    def _post(self, module: Any, incompatible: Any) -> None:
        if self.errors is None:
            return
        name, where = type(module).__name__, f"{self.checkpoint}: init_cfg Pretrained"
        where += f" (prefix {self.prefix!r})" if self.prefix else ""
        if self.errors:
            first = self.errors[0]
            m = _SIZE_MISMATCH.match(first)
            what = (f"first '{self.prefix}{m.group(1)}' is {_shape(m.group(2))} in the checkpoint, "
                    f"{_shape(m.group(3))} in the model" if m else f"first: {first.strip().splitlines()[0][:200]}")
            raise CheckpointMismatchError(
                f"{where}: {len(self.errors)} of {len(self.keys)} tensors do not fit {name}; {what} "
                f"(a checkpoint of another architecture, width or depth?)")
        # torch's BatchNorm fills in an absent num_batches_tracked, so it is never "missing" (mmengine drops it too)
        model_keys = [k for k in module.state_dict() if not k.endswith('num_batches_tracked')]
        missing = set(incompatible.missing_keys)
        if model_keys and all(k in missing for k in model_keys):
            found = (f"its {len(self.keys)} keys look like {self.keys[:2]}{' after the prefix' if self.prefix else ''}"
                     if self.keys else "it holds no tensors")
            raise CheckpointMismatchError(f"{where}: no tensor matches a parameter of {name}; {found}, the "
                                          f"model's like {model_keys[:2]} (wrong init_cfg prefix?)")


def load_pretrained_checked(original: Any, init: Any, module: Any) -> None:
    """``original(init, module)`` (mmengine's ``PretrainedInit.__call__``) under a :class:`_LoadProbe`: a
    checkpoint that does not fit ``module`` raises :class:`CheckpointMismatchError`, one line naming the
    checkpoint file (:func:`peclr_mm.compat.checkpoint_loading.refuse_mismatched_pretrained` lists the cases).
    """
    prefix = init.prefix if not init.prefix or init.prefix.endswith('.') else init.prefix + '.'
    probe = _LoadProbe(module, str(init.checkpoint), prefix or '')
    try:
        original(init, module)
    except AssertionError as err:  # mmengine's _load_checkpoint_with_prefix: "{prefix} is not in ..."
        if not prefix or str(err) != f'{prefix} is not in the pretrained model':
            raise
        raise CheckpointMismatchError(f"{init.checkpoint}: init_cfg Pretrained prefix {prefix!r} matches no "
                                      f"key; {_found_keys(init.checkpoint)}") from None
    finally:
        probe.remove()


def _found_keys(checkpoint: str) -> str:
    """:func:`key_groups` of ``checkpoint`` (read again through mmengine's loaders; only for an error)."""
    from mmengine.runner.checkpoint import _load_checkpoint

    try:
        ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    except Exception as err:  # the message is about the prefix; the file was readable a moment ago
        return f"(keys not listed: {type(err).__name__})"
    sd = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    return key_groups(sd if isinstance(sd, dict) else {})


def register_safe_globals() -> None:
    """Allow-list mmengine's checkpoint contents for torch's safe loading (idempotent; no-op without torch),
    and install the checkpoint patches of :mod:`peclr_mm.compat` (``apply('checkpoint_loading')``): a
    ``HistoryBuffer`` pickles as data only, every mmengine checkpoint scheme (local files as used by
    ``Runner.resume``/``load_from`` and ``init_cfg=dict(type='Pretrained')``, ``torchvision://``,
    ``http(s)://``, ``open-mmlab://``, ``mmcls://``, ``s3://``, ``pavi://``) loads through
    :func:`load_checkpoint` (always ``weights_only=True``, a refusal is one line naming the file; remote files
    are read from, or downloaded into, torch's hub cache, :func:`fetch_url`), and
    ``init_cfg=dict(type='Pretrained')`` loads refuse checkpoints that do not fit the model
    (:func:`load_pretrained_checked`).
    """
    global _registered
    if _registered:
        return
    try:
        import torch.serialization as ts
    except ImportError:
        return
    ts.add_safe_globals(safe_globals())
    _registered = True
    try:
        import mmengine  # noqa: F401
    except ImportError:
        return
    from peclr_mm import compat
    compat.apply('checkpoint_loading')


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


def split_backbone(sd: Dict[str, torch.Tensor], path: str,
                   prefix: str = PREFIX) -> tuple[Dict[str, torch.Tensor], Dict[str, int]]:
    """The ``prefix`` tensors of a state_dict (cloned, keys kept with ``prefix``) and the number of the other
    tensors per key group (``{'head.*': 2}``); no ``prefix`` key is one line naming ``path`` and the groups."""
    out = OrderedDict((k, v.detach().clone()) for k, v in sd.items() if k.startswith(prefix))
    if not out:
        raise ValueError(f'{path}: no "{prefix}*" weights in state_dict; {key_groups(sd)}')
    left: Dict[str, int] = {}
    for k in sd:
        if not k.startswith(prefix):
            group = k.split('.', 1)[0] + '.*'
            left[group] = left.get(group, 0) + 1
    return out, left


def extract_backbone(path: str, prefix: str = PREFIX) -> Dict[str, torch.Tensor]:
    """Backbone tensors of a checkpoint (pretraining, exported backbone or top-down model), keys kept with
    ``prefix``; one-line errors name the file and, when no key matches, the key groups found (with examples)."""
    return split_backbone(state_dict_of(load_checkpoint_safe(path), path), path, prefix)[0]
