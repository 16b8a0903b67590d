"""Moved to :mod:`peclr_mm.freihand_eval` (numpy + scipy only); this name is an alias of that module."""
import sys

from peclr_mm import freihand_eval as _core

sys.modules[__name__] = _core
