"""Tools of this repository, not of the plugin: the synthetic hand renderer (:mod:`.synthetic`), the demo that
compares PeCLR, SimCLR and scratch on it and the paper-scale plan (:mod:`.experiments`), the GPU check
(:mod:`.gpu_check`), and what the last two share: the subprocess runner (:mod:`.runner`) and configs with
``--cfg-options`` merged (:mod:`.config_options`).

It lives beside the scripts of ``tools/`` that use it: ``python tools/<script>.py`` finds it as Python puts the
script's folder first on ``sys.path``, and the clone's ``.venv`` (``tools/setup_env.sh``) has ``tools/`` on its
path for tests, benchmarks and every subprocess. Without the ``.venv`` (the lent GPU machine, docs/gpu.md):
``PYTHONPATH=$PWD:$PWD/tools``. The wheel's ``peclr_mm`` does not import it.
"""
