"""docs/fidelity.md points at our code by ``file:line``: each such reference must still land on the code it
names, so an edit that moves the code fails here instead of leaving the table pointing elsewhere."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / 'docs' / 'fidelity.md'
SHORT = {'release_view.py': 'peclr_mm/selfsup/release_view.py', 'release_optim.py': 'peclr_mm/selfsup/release_optim.py',
         '_base_/peclr_freihand-yt3dh_128px.py': 'configs/_base_/peclr_freihand-yt3dh_128px.py'}
# (file, text on the first line of a referenced range): what each of the table's references to our code shows.
ANCHORS = {
    ('configs/_base_/peclr_resnet50.py', "init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')"),
    ('configs/_base_/peclr_freihand-yt3dh_128px.py', "sampler=dict(type='SourceBalancedSampler')"),
    ('peclr_mm/pose/regression25d_head.py', 'def loss('),
    ('peclr_mm/selfsup/equivariance.py', 'def undo_official('),
    ('peclr_mm/selfsup/peclr.py', 's = z @ z.t()'),
    ('peclr_mm/selfsup/release_optim.py', 'class LARSAdam('),
    ('peclr_mm/selfsup/release_optim.py', 'class ReleaseWeightDecayConstructor('),
    ('peclr_mm/selfsup/release_optim.py', 'class LinearWarmupCosineAnnealingLR('),
    ('peclr_mm/selfsup/release_view.py', 'def release_aug_norm('),
    ('peclr_mm/selfsup/release_view.py', 'if results.get(self.flip_key, False):'),
    ('peclr_mm/selfsup/release_view.py', 'angle = float(np.floor(np.random.uniform(-self.max_angle, self.max_angle)))'),
    ('peclr_mm/selfsup/release_view.py', 'margin = float(np.random.uniform(*self.margin))'),
    ('peclr_mm/selfsup/release_view.py', 'fx, fy = self.size / crop.shape[1], self.size / crop.shape[0]'),
    ('peclr_mm/selfsup/source_sampler.py', 'class SourceBalancedSampler('),
}
REF = re.compile(r'`((?:peclr_mm|configs)/[\w/.-]+\.py|release_view\.py|release_optim\.py|_base_/[\w.-]+\.py)'
                 r':(\d+)(?:-(\d+))?`')


def test_every_reference_to_our_code_lands_on_what_it_names():
    refs = [(SHORT.get(path, path), int(a), int(b or a)) for path, a, b in REF.findall(DOC.read_text())]
    assert refs, 'no file:line references to our code found'
    wrong, seen = [], set()
    for path, a, b in refs:
        lines = (ROOT / path).read_text().splitlines()
        first = lines[a - 1].strip() if 0 < a <= b <= len(lines) else ''
        hit = [text for file, text in ANCHORS if file == path and first.startswith(text)]
        if not hit:
            wrong.append(f'{path}:{a}-{b} starts with {first[:70]!r}')
        seen.update((path, text) for text in hit)
    assert not wrong, 'docs/fidelity.md points at other code now:\n' + '\n'.join(wrong)
    assert seen == ANCHORS, f'anchors no reference uses: {sorted(ANCHORS - seen)}'
