"""Convert an official PeCLR release (torchvision ResNet state_dict) to mmpose-loadable backbone weights.

    python tools/convert_official_peclr.py peclr_rn50.tar.gz peclr_rn50_backbone.pth
    python tools/convert_official_peclr.py peclr_rn50_yt3dh_fh.pth peclr_rn50_backbone.pth

The release is read as downloaded (``peclr_rn{50,152}.tar.gz``, the ``Weights`` of the model zoo's official
entries, which ``mim download peclr-mm --config ...`` fetches; the archive must hold exactly one ``.pth``) or
unpacked (its ``.pth``). It may be a torchvision ResNet-18, 34, 50, 101 or 152: the depth written into the
output (and printed) is read from the weights' block type and block counts, and every tensor must have the
name and shape of that torchvision ResNet; anything else (a Wide ResNet, a ResNeXt, a file that is not a
ResNet) is one error line. The conversion is checked numerically before writing: torchvision's ResNet with the
original weights and mmpretrain's ResNet with the converted ones must give the same last-stage features for a
random input (``--no-check`` skips this). The output is ``{'state_dict': {'backbone.*': ...}, 'meta': ...}``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import shutil
import sys
import tarfile
import tempfile
import zlib

from peclr_mm.checkpoint import UnsafeCheckpointError
from peclr_mm.selfsup.export import check_distinct, convert_release, run_tool

ARCHIVE_SUFFIXES = ('.tar.gz', '.tgz', '.tar')


def convert(release: str, out: str, check: bool = True) -> str:
    """:func:`convert_release` on ``release``, or on the one ``.pth`` inside it when it is a tar archive (errors
    then name ``ARCHIVE:MEMBER``)."""
    if not release.endswith(ARCHIVE_SUFFIXES):
        return convert_release(release, out, check=check)
    check_distinct(release, out)
    if not osp.isfile(release):
        raise ValueError(f'{release}: no such file')
    try:
        with tarfile.open(release) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith('.pth')]
            if len(members) != 1:
                names = ', '.join(m.name for m in members) or 'none'
                raise ValueError(f'{release}: expected one .pth file in the archive, found {len(members)} ({names})')
            (member,) = members
            with tempfile.TemporaryDirectory() as tmp:
                path = osp.join(tmp, osp.basename(member.name))
                with tar.extractfile(member) as src, open(path, 'wb') as dst:
                    shutil.copyfileobj(src, dst)
                try:
                    return convert_release(path, out, check=check)
                except (OSError, ValueError, UnsafeCheckpointError) as err:
                    raise ValueError(str(err).replace(path, f'{release}:{member.name}')) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:  # a truncated or corrupt archive
        raise ValueError(f'{release}: not a readable tar archive ({err})') from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('release', help='official PeCLR weights as downloaded (peclr_rn50.tar.gz) or unpacked '
                                        '(peclr_rn50_yt3dh_fh.pth: a torchvision ResNet state_dict)')
    parser.add_argument('out', help='output backbone weights (.pth)')
    parser.add_argument('--no-check', action='store_true', help='skip the numerical check')
    args = parser.parse_args(argv)
    return run_tool(lambda: convert(args.release, args.out, check=not args.no_check))


if __name__ == '__main__':
    sys.exit(main())
