"""The demo report's "shows / does not show" bullets: orderings only where every seed agrees and the mean
is beyond 2 standard errors (issue 21: conclusions() beyond "not resolved")."""
from __future__ import annotations

from peclr_lab.experiments.report import conclusions
from peclr_lab.experiments.stats import paired

SEEDS = (0, 1, 2)
M = 'fine-tuning PA-EPE (mm), 100 % labels'


def _summary(pa_epe: dict, gap: dict | None = None) -> dict:
    """pa_epe: init -> per-seed PA-EPE at 100 % labels; mean pose 30 mm, probes all below it."""
    comps = [(M, a, b, paired(pa_epe[a], pa_epe[b])) for a, b in
             (('peclr', 'simclr'), ('peclr', 'scratch'), ('simclr', 'scratch'))]
    return dict(
        comparisons=comps,
        cells={(init, 1.0): {s: {'PA-EPE': v} for s, v in per.items()} for init, per in pa_epe.items()},
        reference={'PA-EPE': 30.0},
        mean_pose={s: {'uv_px': 16.0} for s in SEEDS},
        probes={'simclr': {s: {'uv_px': 15.0} for s in SEEDS}, 'peclr': {s: {'uv_px': 14.9} for s in SEEDS}},
        gap_pair=None if gap is None else paired(gap['peclr'], gap['simclr']))


def test_the_papers_ordering_is_shown_when_every_seed_agrees():
    shows, not_shows = conclusions(_summary(
        {'peclr': {0: 20.0, 1: 20.1, 2: 19.9}, 'simclr': {0: 21.0, 1: 21.2, 2: 21.1},
         'scratch': {0: 23.0, 1: 23.1, 2: 22.8}},
        gap={'peclr': {0: 0.05, 1: 0.06, 2: 0.05}, 'simclr': {0: -0.1, 1: -0.12, 2: -0.11}}))
    assert f'{M}: PeCLR is lower (PeCLR − SimCLR = -1.10 ± 0.10, 3/3 seeds agree, mean beyond 2 standard ' \
           'errors).' in shows
    assert "The paper's ordering PeCLR < SimCLR < scratch at 100 % labels is shown (both steps resolved)." in shows
    assert 'At 100 % labels, PeCLR, SimCLR, scratch beat the image-blind mean pose (30.00 mm PA-EPE) on every ' \
           'seed.' in shows
    assert "Probe uv error below the mean pose's on every seed: SimCLR, PeCLR." in shows
    assert any(s.startswith("PeCLR's projection is more equivariant than SimCLR's") for s in shows)
    assert not any('not resolved' in s for s in not_shows)


def test_an_ordering_one_seed_contradicts_is_not_shown():
    shows, not_shows = conclusions(_summary({
        'peclr': {0: 20.0, 1: 21.5, 2: 19.9}, 'simclr': {0: 21.0, 1: 21.2, 2: 21.1},
        'scratch': {0: 23.0, 1: 23.1, 2: 35.0}}))
    assert any(s.startswith(f'{M}: PeCLR vs SimCLR not resolved (2/3 seeds agree in sign') for s in not_shows)
    assert "The paper's ordering PeCLR < SimCLR < scratch at 100 % labels is not shown by this run." in not_shows
    assert 'At 100 % labels, the mean pose (30.00 mm PA-EPE) is beaten by scratch on 2/3 seeds only.' in not_shows
    assert not any(s.startswith("The paper's ordering") for s in shows)


def test_the_appearance_only_arm_separates_equivariance_from_invariance():
    """PeCLR < appearance-only SimCLR on every seed: equivariance helps; SimCLR − appearance-only unresolved
    (one seed against): whether invariance hurts is not claimed."""
    pa = {'peclr': {0: 20.0, 1: 20.1, 2: 19.9}, 'simclr-app': {0: 21.0, 1: 21.1, 2: 21.1},
          'simclr': {0: 21.5, 1: 21.6, 2: 20.9}, 'scratch': {0: 23.0, 1: 23.1, 2: 22.8}}
    summary = _summary(pa)
    summary['comparisons'] += [(M, a, b, paired(pa[a], pa[b])) for a, b in
                               (('peclr', 'simclr-app'), ('simclr', 'simclr-app'))]
    shows, not_shows = conclusions(summary)
    assert f"{M}: equivariance to the views' geometry helps against the same contrast without geometric " \
           'augmentation (PeCLR − SimCLR (appearance only) = -1.07 ± 0.12).' in shows
    assert f'{M}: whether invariance to rotation, translation and scale hurts (SimCLR vs SimCLR (appearance ' \
           'only)) is not resolved.' in not_shows
    assert f'{M}: SimCLR vs SimCLR (appearance only) not resolved (2/3 seeds agree in sign, mean +0.27 ± 0.40).' \
        in not_shows
