"""Build hook only (the metadata is in pyproject.toml): ship the configs as OpenMMLab packages do.

A wheel gets ``peclr_mm/.mim/configs`` and ``peclr_mm/.mim/model-index.yml`` (copies of ``configs/`` and
``model-index.yml``, as mmpretrain's and mmpose's setup.py make ``<pkg>/.mim``) and ``peclr_mm-mim.pth``,
whose ``import peclr_mm.mim`` registers the ``peclr_mm::`` config prefix with mmengine at start-up
(peclr_mm/mim.py). In a clone, ``tools/setup_env.sh`` links ``peclr_mm/.mim`` to the repository instead.
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


def link_mim_in_clone():
    """peclr_mm/.mim/{configs,model-index.yml} -> the repository's, as tools/setup_env.sh does."""
    mim = os.path.join(ROOT, 'peclr_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for part in ('configs', 'model-index.yml'):
        link = os.path.join(mim, part)
        if not os.path.lexists(link):
            os.symlink(os.path.join('..', '..', part), link)


class BuildPyWithMim(build_py):
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            link_mim_in_clone()  # `pip install -e .` reads the clone (no .pth: `import peclr_mm.mim` first)
            return
        mim = os.path.join(self.build_lib, 'peclr_mm', '.mim')
        shutil.rmtree(mim, ignore_errors=True)
        shutil.copytree(os.path.join(ROOT, 'configs'), os.path.join(mim, 'configs'),
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        shutil.copy2(os.path.join(ROOT, 'model-index.yml'), os.path.join(mim, 'model-index.yml'))
        with open(os.path.join(self.build_lib, 'peclr_mm-mim.pth'), 'w') as f:
            f.write('import peclr_mm.mim\n')


setup(cmdclass={'build_py': BuildPyWithMim})
