"""The check's data: a synthetic FreiHAND set and a synthetic YouTube3DHands set from its evaluation frames,
so that the pretraining reads the paper's mixed dataset."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from .sizes import Sizes


def write_yt3dh(freihand: Path, out: Path) -> Path:
    """A YouTube3DHands-format set (``youtube_train.json`` + frames) from the evaluation split of a
    synthetic FreiHAND folder: its images as frames, its mesh projected to pixels as the annotation's
    ``vertices``, every other hand marked left (mirrored by the dataset, as the release's left hands)."""
    import numpy as np

    from peclr_mm.freihand import annotation_file, read_field, split_layout
    from peclr_mm.geometry import project

    xyz = read_field(annotation_file(freihand, 'evaluation', 'xyz'), 'xyz')
    K = read_field(annotation_file(freihand, 'evaluation', 'K'), 'K', length=len(xyz))
    verts = read_field(annotation_file(freihand, 'evaluation', 'verts'), 'verts', length=len(xyz))
    uv = project(verts, K)
    frames = out / 'frames'
    frames.mkdir(parents=True, exist_ok=True)
    rgb = Path(split_layout(freihand, 'evaluation').rgb_dir)
    images, anns = [], []
    for i in range(len(xyz)):
        name = f'frames/{i:08d}.jpg'
        shutil.copyfile(rgb / f'{i:08d}.jpg', out / name)
        images.append(dict(id=i, name=name))
        v = np.concatenate([uv[i], verts[i, :, 2:] * 1000], axis=1)
        anns.append(dict(image_id=i, is_left=i % 2, vertices=np.round(v, 2).tolist()))
    (out / 'youtube_train.json').write_text(json.dumps(dict(images=images, annotations=anns)))
    return out


def make_data(work: Path, sizes: Sizes, workers: int) -> dict:
    from ..synthetic import make_synthetic_freihand
    t0 = time.time()
    fh = make_synthetic_freihand(work / 'freihand', sizes.num_train, sizes.num_eval, size=224, seed=0,
                                 workers=workers, overwrite=True, progress=False)
    yt = work / 'yt3dh'
    shutil.rmtree(yt, ignore_errors=True)
    write_yt3dh(fh, yt)
    return dict(freihand=str(fh), yt3dh=str(yt), num_train=sizes.num_train, freihand_images=4 * sizes.num_train,
                num_eval=sizes.num_eval, yt3dh_frames=sizes.num_eval, image_size=224,
                seconds=round(time.time() - t0, 1))
