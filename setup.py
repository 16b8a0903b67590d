"""Build hook only (the metadata is in pyproject.toml): ship the configs as OpenMMLab packages do.

Both install modes give ``import peclr_mm.mim`` at interpreter start-up (``peclr_mm-mim.pth``, which registers
the ``peclr_mm::`` config prefix with mmengine, peclr_mm/mim.py) and a ``peclr_mm/.mim`` with ``configs``,
``model-index.yml`` and ``tools`` (the layout of mmpretrain's and mmpose's ``<pkg>/.mim``, read by mim):

- ``pip install .``: the wheel holds copies of ``configs/``, ``model-index.yml`` and ``tools/`` under
  ``peclr_mm/.mim`` and ``peclr_mm-mim.pth`` at its root.
- ``pip install -e .``: setuptools' PEP 660 editable wheel holds only a finder for ``peclr_mm`` (files written to
  ``build_lib`` are dropped), so the ``.pth`` is written into the unpacked editable wheel itself (the ``install``
  command's ``install_lib``, where setuptools also puts a project's data and scripts), and
  ``peclr_mm/.mim/*`` in the source tree link to the repository's folders, as ``tools/setup_env.sh`` does.
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
MIM_PARTS = ('configs', 'model-index.yml', 'tools')
PTH_NAME = 'peclr_mm-mim.pth'
PTH_LINE = 'import peclr_mm.mim\n'


def link_mim_in_source_tree():
    """peclr_mm/.mim/{configs,model-index.yml,tools} -> the repository's (existing entries are left alone)."""
    mim = os.path.join(ROOT, 'peclr_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for part in MIM_PARTS:
        link = os.path.join(mim, part)
        if not os.path.lexists(link):
            os.symlink(os.path.join('..', '..', part), link)


def write_pth(folder):
    with open(os.path.join(folder, PTH_NAME), 'w') as f:
        f.write(PTH_LINE)


class BuildPyWithMim(build_py):
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            link_mim_in_source_tree()
            write_pth(self.get_finalized_command('install').install_lib)  # the unpacked editable wheel
            return
        mim = os.path.join(self.build_lib, 'peclr_mm', '.mim')
        shutil.rmtree(mim, ignore_errors=True)
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc', 'peclr_lab')  # the repository's own tooling stays out
        for part in MIM_PARTS:
            src, dst = os.path.join(ROOT, part), os.path.join(mim, part)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=ignore)
            else:
                shutil.copy2(src, dst)
        write_pth(self.build_lib)


setup(cmdclass={'build_py': BuildPyWithMim})
