"""The demo's report: ``results.md``, ``results.json``, ``results.png``, ``equivariance.png`` and the
prediction pictures, from a work dir's own files (:mod:`.results`) and statistics over seeds (:mod:`.stats`).

The tables show ``FreiHandMetric``'s numbers as ``tools/test.py`` logged them; the PCK curves and the
pictures' per-sample errors come from ``pred.json`` with :mod:`peclr_mm.freihand.scorer`. Every file is
written atomically.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from peclr_mm.fileio import atomic_write, atomic_write_json, atomic_write_text
from peclr_mm.freihand.scorer import align_w_scale, point_errors
from peclr_mm.geometry import SKELETON, project

from . import results as R
from .config_table import ALGOS, pct
from .stats import Paired, paired, summarize

LABELS = {'scratch': 'scratch', 'simclr': 'SimCLR', 'simclr-app': 'SimCLR (appearance only)', 'peclr': 'PeCLR'}
PROBE_LABELS = dict(LABELS, scratch='random weights')
COLORS = {'scratch': '#7f7f7f', 'simclr': '#1f77b4', 'simclr-app': '#2ca02c', 'peclr': '#d62728'}
# Paired comparisons A − B. PeCLR − SimCLR (appearance only): does equivariance to geometry help, against the
# same contrast without geometric augmentation? SimCLR − SimCLR (appearance only): does invariance to it hurt?
PAIRS = (('peclr', 'simclr'), ('peclr', 'simclr-app'), ('simclr', 'simclr-app'), ('peclr', 'scratch'),
         ('simclr', 'scratch'), ('simclr-app', 'scratch'))
SCALE_WORDS = {'demo': 'a half-width ResNet-18 at 64 px and a CPU budget',
               'demo-gpu': 'a ResNet-18 at 128 px and minutes of one GPU'}
PROBE_NAMES = {'orientation_deg': 'probe orientation error (deg)', 'uv_px': 'probe uv error (px)',
               'pa_epe_mm': 'probe PA-EPE (mm)'}
PROBE_HEADERS = {'orientation_deg': 'orientation (deg)', 'uv_px': '2-D keypoints (px)', 'pa_epe_mm': 'PA-EPE (mm)'}
# the geometry probe's paired comparisons in every cell: the two questions of the appearance-only arm, PeCLR
# against SimCLR, and PeCLR against random weights
GEOMETRY_PAIRS = (('peclr', 'simclr'), ('peclr', 'simclr-app'), ('simclr', 'simclr-app'), ('peclr', 'scratch'))


def _pct_label(fraction: float) -> str:
    return f'{round(fraction * 100)} %'


# -- numbers ---------------------------------------------------------------------------------------------

def geometry_cells(rows: dict) -> dict:
    """``{(budget, features, readout): {backbone: {seed: {metric: error}}}}`` from
    :func:`.results.collect_probes`' per-seed rows (the mean pose under features ``''``), in row order."""
    cells: dict = {}
    for seed, per_seed in rows.items():
        for r in per_seed:
            cell = cells.setdefault((r['budget'], r['features'], r['readout']), {})
            cell.setdefault(r['backbone'], {})[seed] = {k: r[k] for k in R.PROBE_METRICS}
    return cells


def geometry_pairs(cells: dict) -> list[tuple]:
    """``(cell, a, b, {metric: Paired})`` for every cell and :data:`GEOMETRY_PAIRS` pair both arms have."""
    out = []
    for cell, per in cells.items():
        for a, b in GEOMETRY_PAIRS:
            if a in per and b in per:
                out.append((cell, a, b, {k: paired({s: v[k] for s, v in per[a].items()},
                                                   {s: v[k] for s, v in per[b].items()}) for k in R.PROBE_METRICS}))
    return out


def summarize_runs(runs: Sequence[dict], probes: dict, mean_pose: dict, equivariance: dict, reference: dict,
                   inits: Sequence[str], fractions: Sequence[float], geometry: dict | None = None,
                   control: dict | None = None) -> dict:
    """Everything the report states, as numbers: per cell mean ± sd over seeds, paired differences,
    the probe (``probes``/``mean_pose``/``control``: its headline cell, ``geometry``: every row per seed,
    :func:`.results.collect_probes`), the equivariance at the last logged iteration."""
    cells = {}
    for f in fractions:
        for init in inits:
            per_seed = {r['seed']: r['metrics'] for r in runs if r['init'] == init and r['fraction'] == f}
            if per_seed:
                cells[init, f] = per_seed
    comparisons = []  # (measure, a, b, Paired); lower is better for every measure here
    for f in fractions:
        for a, b in PAIRS:
            if (a, f) in cells and (b, f) in cells:
                comparisons.append((f'fine-tuning PA-EPE (mm), {_pct_label(f)} labels', a, b, paired(
                    {s: m['PA-EPE'] for s, m in cells[a, f].items()},
                    {s: m['PA-EPE'] for s, m in cells[b, f].items()})))
    for key in R.PROBE_METRICS:
        for a, b in PAIRS:
            if a in probes and b in probes:
                comparisons.append((PROBE_NAMES[key], a, b, paired({s: p[key] for s, p in probes[a].items()},
                                                                   {s: p[key] for s, p in probes[b].items()})))
    last = {algo: {s: recs[-1] for s, recs in per_seed.items() if recs} for algo, per_seed in equivariance.items()}
    gap_pair = None
    if 'peclr' in last and 'simclr' in last:
        gap_pair = paired({s: r['eval_gap'] for s, r in last['peclr'].items()},
                          {s: r['eval_gap'] for s, r in last['simclr'].items()})
    geo = geometry_cells(geometry or {})
    return dict(cells=cells, comparisons=comparisons, probes=probes, mean_pose=mean_pose, control=control or {},
                geometry=geo, geometry_pairs=geometry_pairs(geo), last_gap=last, gap_pair=gap_pair,
                reference=reference)


def _beats(values: dict, ref: float | dict) -> tuple[int, int]:
    """(seeds below the reference, seeds): ``ref`` one number or one per seed."""
    below = sum(v < (ref[s] if isinstance(ref, dict) else ref) for s, v in values.items())
    return below, len(values)


def _geometry_bullets(by: dict, measures: list[str]) -> tuple[list[str], list[str]]:
    """The two questions the appearance-only SimCLR arm separates, per measure: does equivariance help (PeCLR
    vs appearance-only SimCLR), does invariance to geometry hurt (SimCLR vs appearance-only SimCLR)."""
    shows, not_shows = [], []
    for m in measures:
        eq, inv = by.get((m, 'peclr', 'simclr-app')), by.get((m, 'simclr', 'simclr-app'))
        if eq is not None:
            if eq.resolved:
                shows.append(f'{m}: equivariance to the views\' geometry '
                             + ('helps' if eq.mean < 0 else 'hurts')
                             + f' against the same contrast without geometric augmentation (PeCLR − SimCLR '
                               f'(appearance only) = {eq.fmt(2, True)}).')
            else:
                not_shows.append(f'{m}: whether equivariance helps (PeCLR vs SimCLR (appearance only)) is not '
                                 'resolved.')
        if inv is not None:
            if inv.resolved:
                shows.append(f'{m}: invariance to rotation, translation and scale '
                             + ('hurts' if inv.mean > 0 else 'helps')
                             + f' against appearance-only views (SimCLR − SimCLR (appearance only) = '
                               f'{inv.fmt(2, True)}).')
            else:
                not_shows.append(f'{m}: whether invariance to rotation, translation and scale hurts (SimCLR vs '
                                 'SimCLR (appearance only)) is not resolved.')
    return shows, not_shows


def _geometry_counts(pairs: list[tuple]) -> list[str]:
    """Per pair and target: in how many of the geometry probe's cells A − B is resolved lower or higher."""
    lines = []
    for a, b in GEOMETRY_PAIRS:
        mine = [p for _, x, y, p in pairs if (x, y) == (a, b)]
        if not mine:
            continue
        parts = []
        for k in R.PROBE_METRICS:
            lower = sum(p[k].resolved and p[k].mean < 0 for p in mine)
            higher = sum(p[k].resolved and p[k].mean > 0 for p in mine)
            parts.append(f'{PROBE_HEADERS[k]} lower in {lower}, higher in {higher}')
        lines.append(f'Geometry probe, {PROBE_LABELS[a]} − {PROBE_LABELS[b]} over its {len(mine)} cells (feature set x readout '
                     f'x labels), resolved: ' + '; '.join(parts) + '.')
    return lines


def conclusions(summary: dict, scale: str = 'demo') -> tuple[list[str], list[str]]:
    """Bullets of "what this run shows" and "does not show", generated from the numbers with the rule of
    :class:`~.stats.Paired` (an ordering only where every seed agrees and |mean| > 2 standard errors);
    ``scale``: the configs' (:data:`SCALE_WORDS`)."""
    shows, not_shows = [], []
    for measure, a, b, p in summary['comparisons']:
        if p.resolved:
            better = LABELS[a] if p.mean < 0 else LABELS[b]
            shows.append(f'{measure}: {better} is lower ({LABELS[a]} − {LABELS[b]} = {p.fmt(2, True)}, '
                         f'{p.agree}/{p.n} seeds agree, mean beyond 2 standard errors).')
        else:
            why = 'one seed' if p.n < 2 else f'{p.agree}/{p.n} seeds agree in sign, mean {p.fmt(2, True)}'
            not_shows.append(f'{measure}: {LABELS[a]} vs {LABELS[b]} not resolved ({why}).')
    by = {(m, a, b): p for m, a, b, p in summary['comparisons']}
    for f in sorted({f for _, f in summary['cells']}):
        m = f'fine-tuning PA-EPE (mm), {_pct_label(f)} labels'
        ps, sp = by.get((m, 'peclr', 'simclr')), by.get((m, 'simclr', 'scratch'))
        if ps and sp:
            ok = ps.resolved and sp.resolved and ps.mean < 0 and sp.mean < 0
            (shows if ok else not_shows).append(
                f'The paper\'s ordering PeCLR < SimCLR < scratch at {_pct_label(f)} labels is '
                + ('shown (both steps resolved).' if ok else 'not shown by this run.'))
    measures = list(dict.fromkeys(m for m, *_ in summary['comparisons']))
    geo_shows, geo_not = _geometry_bullets(by, measures)
    shows += geo_shows
    not_shows += geo_not
    ref = summary['reference']['PA-EPE']
    for f in sorted({f for _, f in summary['cells']}):
        counts = {init: _beats({s: m['PA-EPE'] for s, m in per.items()}, ref)
                  for (init, g), per in summary['cells'].items() if g == f}
        good = [LABELS[i] for i, (k, n) in counts.items() if k == n]
        bad = [f'{LABELS[i]} on {k}/{n} seeds' for i, (k, n) in counts.items() if k < n]
        if good:
            shows.append(f'At {_pct_label(f)} labels, {", ".join(good)} beat the image-blind mean pose '
                         f'({ref:.2f} mm PA-EPE) on every seed.')
        if bad:
            not_shows.append(f'At {_pct_label(f)} labels, the mean pose ({ref:.2f} mm PA-EPE) is beaten by '
                             f'{", ".join(bad)} only.')
    mp = summary['mean_pose']
    counts = {init: _beats({s: p['uv_px'] for s, p in per.items()}, {s: v['uv_px'] for s, v in mp.items()})
              for init, per in summary['probes'].items()}
    good = [PROBE_LABELS[i] for i, (k, n) in counts.items() if k == n]
    bad = [f'{PROBE_LABELS[i]} on {k}/{n} seeds' for i, (k, n) in counts.items() if k < n]
    if good:
        shows.append(f'Probe uv error below the mean pose\'s on every seed: {", ".join(good)}.')
    if bad:
        not_shows.append(f'Probe uv error below the mean pose\'s: {", ".join(bad)} only.')
    control = summary.get('control') or {}
    if control and mp:
        k, n = _beats({s: c['orientation_deg'] for s, c in control.items()},
                      {s: v['orientation_deg'] for s, v in mp.items()})
        line = (f'Positive control: the probe reads the orientation of a fine-tuned backbone at '
                f'{summarize(c["orientation_deg"] for c in control.values()).fmt(1)} deg against the mean pose\'s '
                f'{summarize(v["orientation_deg"] for v in mp.values()).fmt(1)} deg ({k}/{n} seeds below)')
        (shows if k == n else not_shows).append(line + ('.' if k == n else ': the probe may not read pose.'))
    shows += _geometry_counts(summary.get('geometry_pairs') or [])
    gp: Paired | None = summary['gap_pair']
    if gp is not None:
        if gp.resolved and gp.mean > 0:
            shows.append(f'PeCLR\'s projection is more equivariant than SimCLR\'s at the end of pretraining '
                         f'(eval gap PeCLR − SimCLR {gp.fmt(3, True)}, {gp.agree}/{gp.n} seeds).')
        else:
            not_shows.append(f'Equivariance gap PeCLR − SimCLR {gp.fmt(3, True)} over {gp.n} seed(s): '
                             'not resolved.')
    n_max = max((p.n for *_, p in summary['comparisons']), default=0)
    if 0 < n_max < 3:
        not_shows.append(f'Strong evidence: with {n_max} seed(s) the 2-standard-error rule is a weak test (the sd '
                         'itself is poorly estimated); more seeds (--seeds) tighten it.')
    not_shows.append(f'Anything about real FreiHAND or the paper\'s scale: synthetic data, {SCALE_WORDS[scale]} '
                     '(tools/reproduce.py runs the paper\'s protocol).')
    return shows, not_shows


# -- results.md ------------------------------------------------------------------------------------------

def markdown(summary: dict, runs: Sequence[dict], settings: dict, walls: dict, total_wall: float) -> str:
    s = settings
    seeds = ', '.join(map(str, s['seeds']))
    low = s.get('low_label_seeds_used') or s['seeds']
    model = {'demo': 'Half-width ResNet-18 at 64 px', 'demo-gpu': 'ResNet-18 at 128 px (bf16 autocast on a CUDA device, fp32 on a CPU)'}[s.get('scale', 'demo')]
    speed = s.get('throughput') or {}
    speed_words = '; '.join(f'{what} **{speed[k]["images_per_s"]:,.0f} images/s** (mean of {speed[k]["runs"]} '
                            'runs)' for k, what in (('pretrain', 'pretraining (source images)'),
                                                    ('finetune', 'fine-tuning')) if k in speed)
    lines = [
        '# PeCLR vs SimCLR (with and without geometric augmentation) vs scratch — synthetic FreiHAND demo', '',
        f'Command: `{s["command"]}`. Preset **{s["preset"]}**, seeds **{seeds}** (label fractions below 100 %: '
        f'seeds {", ".join(map(str, low))}), **{s["jobs"]}** stages at once; wall time of this invocation '
        f'**{total_wall:.0f} s**, sum of stage times **{sum(walls.values()):.0f} s**.', '']
    if s.get('device'):
        precision = {'bf16': 'bfloat16 autocast (`AutocastOptimWrapper`)', 'fp32': 'float32'}.get(s.get('precision'))
        lines += [f'Device: **{s["device"]}**' + (f'; training precision: **{precision}**' if precision else '')
                  + (f'; training speed: {speed_words}.' if speed_words else '.'), '']
    lines += [
        f'Synthetic FreiHAND: {s["num_train"]} training samples x 4 versions (unlabeled for pretraining), '
        f'{s["num_eval"]} evaluation samples. {model}; pretraining {s["pretrain_iters"]} '
        f'iterations for every algorithm alike (SimCLR (appearance only): SimCLR whose two views share one '
        'crop, without rotation, shift or scale changes); fine-tuning '
        f'{s["finetune_iters"]} iterations for every '
        'initialisation, label fraction and seed; last checkpoint tested on the evaluation split with '
        '`FreiHandMetric`. Per seed, the seed sets the pretraining, the probe, the fine-tuning randomness and '
        'the label subset; fine-tuning starts from that seed\'s backbone.', '',
        '## Fine-tuning (mean ± sd over seeds)', '',
        '| init | labels | n | EPE (mm) ↓ | PA-EPE (mm) ↓ | AUC 0-50 mm ↑ | PA-AUC ↑ |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |']
    for (init, f), per_seed in summary['cells'].items():
        cells = [summarize(m[k] for m in per_seed.values()).fmt(4 if 'AUC' in k else 2) for k in R.METRICS]
        lines.append(f'| {LABELS[init]} | {_pct_label(f)} | {len(per_seed)} | ' + ' | '.join(cells) + ' |')
    r = summary['reference']
    lines += ['', f'Reference (no model): the mean training pose at the ground-truth root gives EPE {r["EPE"]:.2f} '
              f'mm, PA-EPE {r["PA-EPE"]:.2f} mm, AUC {r["AUC"]:.4f}, PA-AUC {r["PA-AUC"]:.4f}; a model has '
              'learned pose from the images only where it beats this.', '',
              '### Per run', '',
              '| init | labels | seed | EPE (mm) | PA-EPE (mm) | AUC | PA-AUC | fine-tune wall (s) |',
              '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for run in runs:
        m = run['metrics']
        wall = run.get('finetune_wall_s')
        lines.append(f'| {LABELS[run["init"]]} | {_pct_label(run["fraction"])} | {run["seed"]} | {m["EPE"]:.2f} | '
                     f'{m["PA-EPE"]:.2f} | {m["AUC"]:.4f} | {m["PA-AUC"]:.4f} | '
                     + (f'{wall:.0f}' if wall is not None else '') + ' |')
    if summary['geometry']:
        lines += geometry_markdown(summary)
    if summary['comparisons']:
        lines += ['', '## Paired comparisons (per seed, lower is better)', '',
                  'A − B on each seed (same seed: same data order, label subset and fine-tuning randomness); '
                  'mean ± sd over seeds. Resolved: every seed agrees in sign and |mean| > 2 standard errors.', '',
                  '| measure | A − B | per seed | mean ± sd | n | sign / size |', '| --- | --- | --- | ---: | ---: | --- |']
        for measure, a, b, p in summary['comparisons']:
            per = ', '.join(f's{s}: {d:+.2f}' for s, d in zip(p.seeds, p.values))
            lines.append(f'| {measure} | {LABELS[a]} − {LABELS[b]} | {per} | {p.fmt(2, True)} | {p.n} | '
                         f'{p.sign_line()} |')
    if summary['last_gap']:
        lines += ['', '## Equivariance of the pretraining projection (last logged values, mean ± sd over seeds)', '',
                  '`EquivarianceMonitorHook`, eval-mode BN: mean positive-pair cosine with the views\' rotation and '
                  'translation undone minus without (positive: the latent moves with the image; an invariant '
                  'latent gives a negative value set by the augmentation ranges). Curves: `equivariance.png`.', '',
                  '| algorithm | n | iteration | gap | undone | raw | feature rank |',
                  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |']
        for algo, per_seed in summary['last_gap'].items():
            recs = list(per_seed.values())
            step = ', '.join(sorted({str(x['step']) for x in recs}))
            lines.append(f'| {LABELS[algo]} | {len(recs)} | {step} | '
                         + ' | '.join(summarize(x[k] for x in recs if k in x).fmt(1 if k == 'eval_feat_rank' else 3,
                                                                                  k == 'eval_gap')
                                      for k in ('eval_gap', 'eval_undone', 'eval_raw', 'eval_feat_rank')) + ' |')
        gp = summary['gap_pair']
        if gp is not None:
            lines += ['', f'Paired PeCLR − SimCLR gap: {gp.fmt(3, True)} ('
                      + ', '.join(f's{s}: {d:+.3f}' for s, d in zip(gp.seeds, gp.values)) + f'); {gp.sign_line()}.']
    shows, not_shows = conclusions(summary, s.get('scale', 'demo'))
    lines += ['', '## What this run shows / does not show', '',
              'Generated from the numbers above: an ordering is claimed only when every seed agrees in sign and '
              'the mean difference exceeds 2 standard errors.', '', '**Shows:**', '']
    lines += [f'- {x}' for x in shows] or ['- nothing at this rule']
    lines += ['', '**Does not show:**', ''] + [f'- {x}' for x in not_shows]
    lines += ['', '## Wall time per stage (s)', '', '| stage | wall (s) |', '| --- | ---: |']
    lines += [f'| {k} | {v:.0f} |' for k, v in walls.items()]
    lines += [f'| **sum of stages** | **{sum(walls.values()):.0f}** |',
              f'| this invocation ({s["jobs"]} at once; skipped stages cost ~0) | {total_wall:.0f} |', '']
    for extra in ('pretrain_options', 'peclr_options', 'finetune_options'):
        if s.get(extra):
            lines.append(f'{extra}: `{" ".join(s[extra])}`  ')
    return '\n'.join(lines) + '\n'


def _budget_words(budget) -> str:
    return 'all' if budget == 'all' else str(budget)


def geometry_markdown(summary: dict) -> list[str]:
    """The geometry probe's section: every arm in every cell (mean ± sd over seeds), then the paired
    differences per cell."""
    heads = ' | '.join(f'{PROBE_HEADERS[k]} ↓' for k in R.PROBE_METRICS)
    lines = ['', '## Geometry probe of the frozen backbones (mean ± sd over seeds)', '',
             '`tools/linear_probe.py --geometry` per seed: the hand\'s in-plane orientation (wrist → middle-MCP '
             'direction in the input; chance 90 deg), the 2-D keypoints (px of the input) and PA-EPE, read by ridge '
             '(penalty chosen on held-out training images) and k-NN (k chosen alike) from the pooled last stage, '
             'an earlier stage pooled to a grid and the projection z (pretraining checkpoints), with 200 labelled '
             'training images and with all; beside the mean pose, random weights (the scratch arm) and, as '
             'positive control, scratch fine-tuned on 100 % of the labels (can the probe read pose at all?). '
             'Errors on the evaluation images.', '',
             f'| labels | features | readout | backbone | n | {heads} |', '| ---: | --- | --- | --- | ---: |'
             + ' ---: |' * len(R.PROBE_METRICS)]
    order = ['mean pose', *PROBE_LABELS, 'control']
    for (budget, features, readout), per in summary['geometry'].items():
        for name in sorted(per, key=lambda n: order.index(n) if n in order else len(order)):
            label = {'mean pose': 'mean pose', 'control': 'fine-tuned (control)'}.get(name, PROBE_LABELS.get(name, name))
            vals = per[name]
            lines.append(f'| {_budget_words(budget)} | {features or "—"} | {readout} | {label} | {len(vals)} | '
                         + ' | '.join(summarize(v[k] for v in vals.values()).fmt(2) for k in R.PROBE_METRICS) + ' |')
    if summary['geometry_pairs']:
        lines += ['', 'Paired over seeds (A − B, mean ± sd; **bold**: resolved, every seed agrees in sign and |mean| '
                  '> 2 standard errors):', '',
                  f'| labels | features | readout | A − B | {" | ".join(PROBE_HEADERS[k] for k in R.PROBE_METRICS)} |',
                  '| ---: | --- | --- | --- |' + ' ---: |' * len(R.PROBE_METRICS)]
        for (budget, features, readout), a, b, ps in summary['geometry_pairs']:
            cells = [f'**{ps[k].fmt(2, True)}**' if ps[k].resolved else ps[k].fmt(2, True) for k in R.PROBE_METRICS]
            lines.append(f'| {_budget_words(budget)} | {features} | {readout} | {PROBE_LABELS[a]} − {PROBE_LABELS[b]} | '
                         + ' | '.join(cells) + ' |')
    return lines


# -- plots -----------------------------------------------------------------------------------------------

def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save_fig(fig, path: Path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format='png', dpi=110, bbox_inches='tight'), binary=True)


def _bars(ax, groups: Sequence[str], series: dict, ref: float | None, title: str, labels: dict = LABELS,
          legend: str = 'lower right') -> None:
    """Grouped bars (mean) with sd error bars and a point per seed; ``series``: init -> per group a list of
    per-seed values; ``labels``: init -> legend label; ``legend``: its location."""
    inits = list(series)
    width = 0.8 / max(1, len(inits))
    for k, init in enumerate(inits):
        x = np.arange(len(groups)) + (k - (len(inits) - 1) / 2) * width
        vals = series[init]
        means = [np.mean(v) if v else np.nan for v in vals]
        sds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in vals]
        ax.bar(x, means, width, yerr=sds, capsize=3, color=COLORS[init], alpha=0.8, label=labels[init])
        for xi, v in zip(x, vals):
            ax.plot([xi] * len(v), v, 'o', ms=3.5, color='k', alpha=0.7, zorder=3)
    if ref is not None:
        ax.axhline(ref, color='k', ls=':', lw=1, label='mean pose (no model)')
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc=legend)


def plot_results(summary: dict, curves: dict, runs: Sequence[dict], inits, fractions, path: Path) -> None:
    """results.png: fine-tuning PA-EPE and the probe as bars (mean, sd over seeds, a point per seed) with the
    mean-pose reference, and the Procrustes-aligned PCK curves (mean over seeds)."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    cells = summary['cells']
    present = [f for f in fractions if any((i, f) in cells for i in inits)]
    _bars(axes[0, 0], [f'{_pct_label(f)} labels' for f in present],
          {i: [[m['PA-EPE'] for m in cells.get((i, f), {}).values()] for f in present] for i in inits},
          summary['reference']['PA-EPE'], 'Fine-tuning PA-EPE (mm, lower is better; sd over seeds)')
    ax = axes[0, 1]
    styles = dict(zip(fractions, ('--', '-', ':', '-.')))
    for f in present:
        for init in inits:
            names = [r['name'] for r in runs if r['init'] == init and r['fraction'] == f]
            if not names:
                continue
            t = np.asarray(curves[names[0]]['thresholds_mm'])
            pck = np.mean([curves[n]['pck_aligned'] for n in names], axis=0)
            ax.plot(t, pck, styles[f], color=COLORS[init], label=f'{LABELS[init]} {_pct_label(f)} (n={len(names)})')
    ax.set_xlabel('threshold (mm)')
    ax.set_ylabel('fraction of joints within threshold')
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title('PCK 3-D, Procrustes-aligned (mean over seeds)', fontsize=10)
    ax.legend(fontsize=7)
    probes, mp = summary['probes'], summary['mean_pose']
    for ax, key in ((axes[1, 0], 'orientation_deg'), (axes[1, 1], 'uv_px')):
        if probes:
            _bars(ax, [f'{R.HEADLINE["features"]}, {R.HEADLINE["readout"]}, all labels'],
                  {i: [[p[key] for p in probes[i].values()]] for i in inits if i in probes},
                  float(np.mean([v[key] for v in mp.values()])) if mp else None,
                  f'Geometry probe: {PROBE_HEADERS[key]} (lower is better)', labels=PROBE_LABELS,
                  legend='upper right')
            lo = min(min(p[key] for p in per.values()) for per in probes.values())
            ax.set_ylim(0.9 * lo, None)  # the differences are small against the values
        else:
            ax.axis('off')
    fig.suptitle('Synthetic FreiHAND: init x label fraction, over seeds')
    _save_fig(fig, path)
    plt.close(fig)


def plot_equivariance(equivariance: dict, path: Path) -> None:
    """equivariance.png: eval-mode gap against pretraining iteration; a thin line per algorithm and seed, a
    thick one for the mean over seeds (at the iterations all seeds logged)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for algo, per_seed in equivariance.items():
        curves = {}
        for seed, recs in per_seed.items():
            recs = [r for r in recs if r['step'] > 0] or recs  # iteration 0: random weights, off the scale
            curves[seed] = {r['step']: r['eval_gap'] for r in recs}
            ax.plot(list(curves[seed]), list(curves[seed].values()), '-', lw=0.8, alpha=0.6, color=COLORS[algo])
        steps = sorted(set.intersection(*(set(c) for c in curves.values()))) if curves else []
        if steps:
            ax.plot(steps, [np.mean([c[t] for c in curves.values()]) for t in steps], 'o-', lw=2.5,
                    color=COLORS[algo], label=f'{LABELS[algo]} (mean of {len(curves)} seeds)')
    ax.axhline(0.0, color='k', lw=0.8)
    ax.set_xlabel('pretraining iteration')
    ax.set_ylabel('cos(undone) - cos(raw), eval BN')
    ax.set_title('Equivariance of the projection (positive: equivariant)')
    ax.legend()
    _save_fig(fig, path)
    plt.close(fig)


def _draw_skeleton_2d(ax, uv: np.ndarray, color: str, label: str) -> None:
    for k, (a, b) in enumerate(SKELETON):
        ax.plot(uv[[a, b], 0], uv[[a, b], 1], '-', color=color, lw=1.8, label=label if k == 0 else None)
    ax.scatter(uv[:, 0], uv[:, 1], s=8, color=color, zorder=3)


def _draw_skeleton_3d(ax, xyz_mm: np.ndarray, color: str, label: str) -> None:
    for k, (a, b) in enumerate(SKELETON):
        ax.plot(xyz_mm[[a, b], 0], xyz_mm[[a, b], 2], -xyz_mm[[a, b], 1], '-', color=color, lw=1.8,
                label=label if k == 0 else None)


def plot_predictions(run: dict, pred: np.ndarray, data_root: Path, gt: np.ndarray, K: np.ndarray, ids: list[int],
                     path: Path) -> None:
    """One figure per model: per sample, the 2-D overlay (prediction projected with K) and a 3-D view
    (root-relative joints, mm) of prediction vs ground truth."""
    import cv2
    plt = _plt()
    fig = plt.figure(figsize=(7.5, 3.4 * len(ids)))
    for row, i in enumerate(ids):
        img_path = data_root / 'evaluation' / 'rgb' / f'{i:08d}.jpg'
        img = cv2.imread(str(img_path))
        if img is None:
            raise FileNotFoundError(f'{img_path}: evaluation image missing or unreadable')
        err = point_errors(gt[i], pred[i])[0].mean() * 1000
        al, _ = align_w_scale(gt[i], pred[i])
        pa = point_errors(gt[i], al)[0].mean() * 1000
        ax = fig.add_subplot(len(ids), 2, 2 * row + 1)
        ax.imshow(img[..., ::-1])
        _draw_skeleton_2d(ax, project(gt[i], K[i]), '#00c000', 'ground truth')
        _draw_skeleton_2d(ax, project(pred[i], K[i]), '#e00000', 'prediction')
        ax.set_xlim(0, img.shape[1])
        ax.set_ylim(img.shape[0], 0)
        ax.axis('off')
        ax.set_title(f'eval #{i}: EPE {err:.1f} mm, PA-EPE {pa:.1f} mm', fontsize=9)
        if row == 0:
            ax.legend(fontsize=7, loc='lower left')
        ax3 = fig.add_subplot(len(ids), 2, 2 * row + 2, projection='3d')
        _draw_skeleton_3d(ax3, (gt[i] - gt[i, :1]) * 1000, '#00c000', 'ground truth')
        _draw_skeleton_3d(ax3, (pred[i] - pred[i, :1]) * 1000, '#e00000', 'prediction')
        both = np.concatenate([gt[i] - gt[i, :1], pred[i] - pred[i, :1]]) * 1000
        centre, half = (both.max(0) + both.min(0)) / 2, (both.max(0) - both.min(0)).max() / 2 + 5
        ax3.set_xlim(centre[0] - half, centre[0] + half)  # equal scale on all axes: true hand proportions
        ax3.set_ylim(centre[2] - half, centre[2] + half)
        ax3.set_zlim(-centre[1] - half, -centre[1] + half)
        ax3.set_box_aspect((1, 1, 1))
        ax3.set_xlabel('x (mm)', fontsize=7)
        ax3.set_ylabel('z (mm)', fontsize=7)
        ax3.set_zlabel('-y (mm)', fontsize=7)
        ax3.tick_params(labelsize=6)
        ax3.set_title('root-relative 3-D', fontsize=9)
    fig.suptitle(f'{LABELS[run["init"]]} init, {_pct_label(run["fraction"])} labels, seed {run["seed"]} '
                 '(green: ground truth, red: prediction)', fontsize=10)
    _save_fig(fig, path)
    plt.close(fig)


# -- all of it -------------------------------------------------------------------------------------------

def _jsonable_summary(summary: dict) -> dict:
    def stat(values):
        return summarize(values).to_dict()
    return dict(
        cells=[dict(init=i, label_fraction=f, **{k: stat(m[k] for m in per.values()) for k in R.METRICS},
                    seeds=sorted(per)) for (i, f), per in summary['cells'].items()],
        comparisons=[dict(measure=m, a=a, b=b, **p.to_dict()) for m, a, b, p in summary['comparisons']],
        probe={i: {k: stat(p[k] for p in per.values()) for k in R.PROBE_METRICS} for i, per in summary['probes'].items()},
        probe_mean_pose={k: stat(v[k] for v in summary['mean_pose'].values()) for k in R.PROBE_METRICS}
        if summary['mean_pose'] else {},
        geometry_paired=[dict(labels=c[0], features=c[1], readout=c[2], a=a, b=b,
                              **{k: p.to_dict() for k, p in ps.items()}) for c, a, b, ps in summary['geometry_pairs']],
        equivariance_last={a: {k: stat(r[k] for r in per.values() if k in r) for k in R.GAP_KEYS}
                           for a, per in summary['last_gap'].items()},
        equivariance_paired=summary['gap_pair'].to_dict() if summary['gap_pair'] else None)


def write_report(work: Path, data_root: Path, settings: dict, walls: dict, total_wall: float,
                 runs: Sequence[dict], num_pictures: int = 3) -> dict:
    """Write results.md / results.json / results.png / equivariance.png / predictions/*.png under ``work``.
    ``runs``: one dict per fine-tuning run with ``init``, ``fraction``, ``seed``, ``name``, ``dir``,
    ``metrics`` (FreiHandMetric's, from :func:`.results.read_test_metrics`) and optionally
    ``finetune_wall_s`` / ``config``."""
    work, data_root = Path(work), Path(data_root)
    inits = [i for i in LABELS if i in settings['inits']]
    fractions = list(settings['fractions'])
    seeds = list(settings['seeds'])
    gt, K = R.load_eval_gt(data_root)
    preds = {r['name']: R.load_pred(Path(r['dir']) / 'pred.json', len(gt)) for r in runs}
    curves = R.pck_curves(runs, gt, preds)
    reference = R.mean_pose_reference(data_root, gt)
    pr = R.collect_probes(work, inits, seeds)
    equivariance = R.collect_equivariance(work, [a for a in ALGOS if a in inits], seeds)
    summary = summarize_runs(runs, pr['probes'], pr['mean_pose'], equivariance, reference, inits, fractions,
                             geometry=pr['rows'], control=pr['control'])
    md = work / 'results.md'
    atomic_write_text(md, markdown(summary, runs, settings, walls, total_wall))
    atomic_write_json(work / 'results.json', dict(
        settings=settings, walls_s=walls, total_wall_s=total_wall, sum_stage_wall_s=sum(walls.values()),
        results=[dict(init=r['init'], label_fraction=r['fraction'], seed=r['seed'], name=r['name'],
                      config=r.get('config'), **r['metrics'], finetune_wall_s=r.get('finetune_wall_s'))
                 for r in runs],
        summary=_jsonable_summary(summary), pck=curves, mean_pose_reference=reference,
        geometry_probe={str(s): rows for s, rows in pr['rows'].items()},
        equivariance={a: {str(s): recs for s, recs in per.items()} for a, per in equivariance.items()}))
    if equivariance:
        plot_equivariance(equivariance, work / 'equivariance.png')
    png = work / 'results.png'
    plot_results(summary, curves, runs, inits, fractions, png)
    first = seeds[0]
    ids = sorted(np.random.default_rng(first).choice(len(gt), min(num_pictures, len(gt)), replace=False).tolist())
    pictures = []
    for r in runs:
        if r['seed'] == first:
            p = work / 'predictions' / f'{r["init"]}_{pct(r["fraction"])}.png'
            plot_predictions(r, preds[r['name']], data_root, gt, K, ids, p)
            pictures.append(p)
    return dict(md=md, png=png, pictures=pictures, summary=summary)
