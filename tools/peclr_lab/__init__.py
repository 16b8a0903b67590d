"""Tools of this repository, not of the plugin: the synthetic hand renderer (:mod:`.synthetic`), the demo that
compares PeCLR, SimCLR and scratch on it, and the GPU check (:mod:`.experiments`).

It lives beside the scripts of ``tools/`` that use it: ``python tools/<script>.py`` finds it as Python puts the
script's folder first on ``sys.path``, and the clone's ``.venv`` (``tools/setup_env.sh``) has ``tools/`` on its
path for tests and benchmarks. The wheel's ``peclr_mm`` does not import it.
"""
