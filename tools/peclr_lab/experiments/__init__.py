"""Experiment orchestration: the CPU demo (``tools/demo.py``) and the paper-scale protocol
(``tools/reproduce.py``), driven only through subprocesses of the upstream tools.

- :mod:`.presets`: :class:`~.presets.Preset` and ``PRESETS`` (``quick``, ``full``, ``long``);
- :mod:`.config_table`: every config they run, one table (``configs.tsv``), and the config lookups;
- :mod:`.plan`: run names, tool paths, :func:`~.plan.schedule_options` (iteration budgets), stage graphs;
- :mod:`.stages`: a stage (a :func:`peclr_lab.runner.run_logged` subprocess, ``stage.log``, ``stage.json``
  stamp, skip when done) and
  :func:`~.stages.run_stages` (up to ``jobs`` at once, in dependency order);
- :mod:`.results`: metrics from the runs' own files (test metrics json, ``probe.json``, ``scalars.json``);
- :mod:`.stats`: mean ± sd over seeds and paired differences;
- :mod:`.report`: ``results.md``/``.json``/``.png``, ``equivariance.png``, prediction pictures;
- :mod:`.demo`: the demo end to end; :mod:`.cli`: the scripts' argument parsers.

Importing this package does not import mmpretrain or mmpose (mmengine only where configs are read).
"""
from .presets import PRESETS, Preset
from .stages import Stage, StageFailed, run_stages

__all__ = ['PRESETS', 'Preset', 'Stage', 'StageFailed', 'run_stages']
