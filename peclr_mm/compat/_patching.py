"""What every patch of :mod:`peclr_mm.compat` shares: its record (:class:`Patch`) and the registering decorator
(:func:`upstream_patch`), the marker of a replacement, the originals it replaced, version reading and
dotted-name lookup. Standard library only (imported at interpreter start-up by :mod:`peclr_mm.mim`'s hooks)."""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, NamedTuple, TypeVar

F = TypeVar('F', bound=Callable)

MARK = '__peclr_mm_patch__'
ABSENT = object()  # the original of a target that upstream does not define

# dotted target -> the upstream object it held before its patch (ABSENT where there was none)
ORIGINALS: dict[str, Any] = {}


class Patch(NamedTuple):
    """One change to upstream: ``function()`` installs it where ``needed()``."""
    function: Callable[[], bool]
    targets: tuple  # dotted names it assigns (``module.Class.attr``, ``module.DICT['key']``)
    library: str  # the upstream distribution whose import it requires
    versions: str  # the versions it applies to
    reason: str  # the upstream defect, in one line
    needed: Callable[[], bool]  # whether the running versions need it (decides when it runs, may import)

    @property
    def name(self) -> str:
        return f'{self.function.__module__}.{self.function.__name__}'

    @property
    def concern(self) -> str:
        return self.function.__module__.rpartition('.')[2]


# Patch.name -> Patch, in definition order (the submodules' import order): peclr_mm.compat.PATCHES
REGISTRY: dict[str, Patch] = {}


def upstream_patch(targets: tuple, *, library: str, versions: str, reason: str,
                   needed: Callable[[], bool]) -> Callable[[F], F]:
    """Record the decorated patch function in :data:`REGISTRY` as ``Patch(function, targets, library,
    versions, reason, needed)``; the function is returned unchanged (re-importing its module replaces its
    record in place)."""
    def register(function: F) -> F:
        patch = Patch(function, tuple(targets), library, versions, reason, needed)
        REGISTRY[patch.name] = patch
        return function
    return register


def is_patched(obj: Any) -> bool:
    """Whether ``obj`` is one of :mod:`peclr_mm.compat`'s replacements."""
    return bool(getattr(obj, MARK, False))


def unpatched(obj: Any) -> Any:
    """The upstream object behind ``obj`` (``obj`` itself when it is not a replacement)."""
    return getattr(obj, '__wrapped__', ABSENT) if is_patched(obj) else obj


def keep(target: str, original: Any) -> None:
    """Remember what ``target`` held before its patch (the first call wins)."""
    ORIGINALS.setdefault(target, original)


def replacement(fn: F, original: Any, target: str) -> F:
    """Mark ``fn`` as the replacement of ``original`` at ``target``: ``fn.__wrapped__`` is ``original``
    (unset where ``original`` is ``ABSENT``)."""
    if original is not ABSENT:
        fn.__wrapped__ = original
    fn.__doc__ = fn.__doc__ or getattr(original, '__doc__', None)
    setattr(fn, MARK, True)
    keep(target, original)
    return fn


def version(distribution: str) -> tuple[int, ...]:
    """The installed version of ``distribution`` as numbers: ``'2.2.6'`` -> ``(2, 2, 6)`` (``()`` if absent)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version
    try:
        text = _version(distribution)
    except PackageNotFoundError:
        return ()
    parts = []
    for part in text.split('.'):
        digits = ''.join(c for c in part[:4] if c.isdigit()) if part[:1].isdigit() else ''
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def resolve(target: str) -> Any:
    """The object a dotted target names now (``ABSENT`` if it does not exist): the longest importable
    module prefix, then attributes; a trailing ``['key']`` reads a dict entry."""
    key = None
    if target.endswith("']"):
        target, _, key = target[:-2].partition("['")
    parts = target.split('.')
    for i in range(len(parts), 0, -1):
        name = '.'.join(parts[:i])
        try:
            obj = sys.modules.get(name) or importlib.import_module(name)
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, ABSENT)
            if obj is ABSENT:
                return ABSENT
        return obj if key is None else obj.get(key, ABSENT)
    return ABSENT


def to_replace(needed: Callable[[], bool], target: str) -> tuple[Any, Any] | None:
    """``(owner, original)`` of the dotted ``target`` (``pkg.module.Class.attr``: the class or module that
    holds ``attr``, imported as :func:`resolve` does, and what ``attr`` holds now, ``ABSENT`` where it is
    undefined), or ``None`` where the running versions do not need the patch (``needed()`` is false) or
    ``target`` already holds a replacement."""
    if not needed():
        return None
    path, _, attr = target.rpartition('.')
    owner = resolve(path)
    if owner is ABSENT:
        raise ImportError(f'peclr_mm.compat: cannot find {path!r}, the owner of the patch target {target!r}')
    current = getattr(owner, attr, ABSENT)
    return None if is_patched(current) else (owner, current)


def wrap_upstream(needed: Callable[[], bool], target: str, wrap: Callable[[Any], Callable]) -> bool:
    """Install ``wrap(original)`` as the :func:`replacement` of what the dotted ``target`` holds, where
    :func:`to_replace` finds the patch needed and not installed yet (``target``'s module or class gets it).

    Returns:
        bool: whether the replacement was installed now.
    """
    found = to_replace(needed, target)
    if found is None:
        return False
    owner, upstream = found
    setattr(owner, target.rpartition('.')[2], replacement(wrap(upstream), upstream, target))
    return True


def original(target: str) -> Any:
    """What ``target`` held before peclr_mm patched it, or what it holds now where it is not patched
    (``ABSENT``: upstream does not define it)."""
    if target in ORIGINALS:
        return ORIGINALS[target]
    return unpatched(resolve(target))
