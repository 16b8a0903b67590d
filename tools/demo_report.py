"""The report of ``tools/demo.py``: results table, bars and PCK curves, prediction pictures.

    python tools/demo_report.py work_dirs/demo      # rebuild the report of a finished demo run

Reads each fine-tuned model's ``metrics.json`` (FreiHandMetric's numbers from ``tools/test.py``) and
``pred.json`` (the Codalab submission it wrote), and the ground truth of the evaluation split. PCK curves
come from per-sample errors with ``peclr_mm.freihand_eval`` (the metric's numpy core), unaligned and
Procrustes-aligned. Every file is written atomically (temporary file + ``os.replace``).
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from peclr_mm.fileio import (  # noqa: E402
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    load_json,
    load_scalars,
    sample_array,
)
from peclr_mm.freihand import SHAPES, annotation_file  # noqa: E402
from peclr_mm.freihand_eval import align_w_scale, epe_auc, point_errors  # noqa: E402
from peclr_mm.geometry import SKELETON, project  # noqa: E402

LABELS = {'scratch': 'scratch', 'simclr': 'SimCLR', 'peclr': 'PeCLR'}
COLORS = {'scratch': '#7f7f7f', 'simclr': '#1f77b4', 'peclr': '#d62728'}
FINGER_COLORS = ['#ff8000', '#ff99ff', '#66b2ff', '#ff3333', '#00c000']  # thumb .. little, as mmpose's


def _run_name(init: str, fraction: float) -> str:
    return f'{init}_{round(fraction * 100)}pct'


def _save_fig(fig, path: Path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format='png', dpi=110, bbox_inches='tight'), binary=True)


def load_eval_gt(data_root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 21, 3) metres and (N, 3, 3) intrinsics of the evaluation split."""
    xyz_file, k_file = (annotation_file(data_root, 'evaluation', f) for f in ('xyz', 'K'))
    xyz = sample_array(load_json(xyz_file, 'xyz'), SHAPES['xyz'], xyz_file, 'xyz')
    K = sample_array(load_json(k_file, 'K'), SHAPES['K'], k_file, 'K', length=len(xyz))
    return xyz, K


def load_pred(path: Path, n: int) -> np.ndarray:
    """Predicted joints (N, 21, 3) from a Codalab ``[xyz_list, verts_list]`` submission."""
    sub = load_json(path, 'xyz')
    if not isinstance(sub, list) or len(sub) != 2:
        raise ValueError(f"{path}: field 'xyz': expected [xyz_list, verts_list]")
    return sample_array(sub[0], SHAPES['xyz'], path, 'xyz', length=n)


def collect(work: Path, inits, fractions) -> list[dict]:
    rows = []
    for fraction in fractions:
        for init in inits:
            d = work / 'finetune' / _run_name(init, fraction)
            rec = json.loads((d / 'metrics.json').read_text())
            rec['dir'] = d
            rows.append(rec)
    return rows


def mean_pose_reference(data_root: Path, gt: np.ndarray) -> dict:
    """Scores of an image-blind predictor: the mean root-relative training pose, placed at each sample's
    ground-truth root. A model has learned something from the images only where it beats this."""
    xyz_file = annotation_file(data_root, 'training', 'xyz')
    train = sample_array(load_json(xyz_file, 'xyz'), SHAPES['xyz'], xyz_file, 'xyz')
    mean = (train - train[:, :1]).mean(0)
    pred = mean[None] + gt[:, :1]
    aligned, _ = align_w_scale(gt, pred)
    plain, al = epe_auc(point_errors(gt, pred)), epe_auc(point_errors(gt, aligned))
    return {'EPE': plain.mean * 1000, 'PA-EPE': al.mean * 1000, 'AUC': plain.auc, 'PA-AUC': al.auc}


def write_table(rows: list[dict], settings: dict, walls: dict, total_wall: float, reference: dict) -> str:
    s = settings
    lines = [
        '# PeCLR vs SimCLR vs scratch — synthetic FreiHAND demo',
        '',
        f'Command: `{s["command"]}` (preset **{s["preset"]}**, seed **{s["seed"]}**). Synthetic FreiHAND: '
        f'{s["num_train"]} training samples x 4 versions (unlabeled for pretraining), {s["num_eval"]} evaluation '
        f'samples. Half-width ResNet-18 at 64 px; pretraining {s["pretrain_iters"]} iterations x 64 images '
        f'(two views) for PeCLR and SimCLR alike; fine-tuning {s["finetune_iters"]} iterations x 32 for every '
        'initialisation and label fraction; last checkpoint tested on the evaluation split with `FreiHandMetric`.',
        '',
        '| init | labels | EPE (mm) ↓ | PA-EPE (mm) ↓ | AUC 0-50 mm ↑ | PA-AUC ↑ | fine-tune wall (s) |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ]
    for r in rows:
        m = r['metrics']
        lines.append(f'| {LABELS[r["init"]]} | {round(r["label_fraction"] * 100)} % | {m["EPE"]:.2f} | '
                     f'{m["PA-EPE"]:.2f} | {m["AUC"]:.4f} | {m["PA-AUC"]:.4f} | {r["finetune_wall_s"]:.0f} |')
    r = reference
    lines += ['', f'Reference (no model): the mean training pose at the ground-truth root gives EPE {r["EPE"]:.2f} mm, '
              f'PA-EPE {r["PA-EPE"]:.2f} mm, AUC {r["AUC"]:.4f}, PA-AUC {r["PA-AUC"]:.4f}; a model has learned '
              'pose from the images only where it beats this.']
    lines += ['', '## Wall time per stage (s)', '', '| stage | wall (s) |', '| --- | ---: |']
    lines += [f'| {k} | {v:.0f} |' for k, v in walls.items()]
    lines += [f'| **sum of stages** | **{sum(walls.values()):.0f}** |',
              f'| this invocation (skipped stages cost ~0) | {total_wall:.0f} |', '']
    for extra in ('pretrain_options', 'peclr_options', 'finetune_options'):
        if s.get(extra):
            lines.append(f'{extra}: `{" ".join(s[extra])}`  ')
    return '\n'.join(lines) + '\n'


def pck_curves(rows: list[dict], gt: np.ndarray) -> dict:
    curves = {}
    for r in rows:
        pred = load_pred(r['dir'] / 'pred.json', len(gt))
        aligned, _ = align_w_scale(gt, pred)
        plain, al = epe_auc(point_errors(gt, pred)), epe_auc(point_errors(gt, aligned))
        curves[_run_name(r['init'], r['label_fraction'])] = dict(
            thresholds_mm=(plain.thresholds * 1000).tolist(), pck=plain.pck_curve.tolist(),
            pck_aligned=al.pck_curve.tolist(), epe_mm=plain.mean * 1000, pa_epe_mm=al.mean * 1000)
    return curves


def plot_results(rows: list[dict], curves: dict, inits, fractions, path: Path, reference: dict) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    width = 0.8 / len(inits)
    for ax, key, title in ((axes[0, 0], 'EPE', 'EPE (mm, lower is better)'),
                           (axes[0, 1], 'PA-EPE', 'PA-EPE (mm, lower is better)')):
        for k, init in enumerate(inits):
            vals = [next(r['metrics'][key] for r in rows if r['init'] == init and r['label_fraction'] == f)
                    for f in fractions]
            x = np.arange(len(fractions)) + (k - (len(inits) - 1) / 2) * width
            bars = ax.bar(x, vals, width, color=COLORS[init], label=LABELS[init])
            ax.bar_label(bars, fmt='%.1f', fontsize=8)
        ax.axhline(reference[key], color='k', ls=':', lw=1, label='mean pose (no model)')
        ax.set_xticks(np.arange(len(fractions)), [f'{round(f * 100)} % labels' for f in fractions])
        ax.set_title(title)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # room for the bar labels above the legend
        ax.legend(fontsize=8, ncol=2, loc='upper left')
    styles = {f: s for f, s in zip(fractions, ('--', '-', ':', '-.'))}
    for ax, key, title in ((axes[1, 0], 'pck', 'PCK 3-D (unaligned)'),
                           (axes[1, 1], 'pck_aligned', 'PCK 3-D (Procrustes-aligned)')):
        for f in fractions:
            for init in inits:
                c = curves[_run_name(init, f)]
                auc = np.trapezoid(c[key], c['thresholds_mm']) / (c['thresholds_mm'][-1] - c['thresholds_mm'][0])
                ax.plot(c['thresholds_mm'], c[key], styles[f], color=COLORS[init],
                        label=f'{LABELS[init]} {round(f * 100)} % (AUC {auc:.3f})')
        ax.set_xlabel('threshold (mm)')
        ax.set_ylabel('fraction of joints within threshold')
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.suptitle('Synthetic FreiHAND evaluation split: init x label fraction')
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


def plot_predictions(rec: dict, data_root: Path, gt: np.ndarray, K: np.ndarray, ids: list[int], path: Path) -> None:
    """One figure per model: per sample, the 2-D overlay (prediction projected with K) and a 3-D view
    (root-relative joints, mm) of prediction vs ground truth."""
    import cv2
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    pred = load_pred(rec['dir'] / 'pred.json', len(gt))
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
    fig.suptitle(f'{LABELS[rec["init"]]} init, {round(rec["label_fraction"] * 100)} % labels '
                 '(green: ground truth, red: prediction)', fontsize=10)
    _save_fig(fig, path)
    plt.close(fig)


GAP_KEYS = ('eval_gap', 'eval_undone', 'eval_raw', 'train_gap', 'eval_feat_rank')


def collect_diagnostics(work: Path, inits) -> dict:
    """Linear-probe results (``probe/<init>/probe.json``) and the pretraining runs' equivariance records
    (``EquivarianceMonitorHook`` in ``pretrain/<algo>/*/vis_data/scalars.json``), where present."""
    probes = {i: json.loads((work / 'probe' / i / 'probe.json').read_text()) for i in inits
              if (work / 'probe' / i / 'probe.json').exists()}
    gaps = {}
    for algo in ('simclr', 'peclr'):
        if algo in inits and (work / 'pretrain' / algo).is_dir():
            recs = load_scalars(work / 'pretrain' / algo, 'equivariance/')
            gaps[algo] = [dict(step=r['step'], **{k: r[f'equivariance/{k}'] for k in GAP_KEYS
                                                  if f'equivariance/{k}' in r}) for r in recs]
    return dict(probes=probes, gaps=gaps)


def diagnostics_table(diag: dict) -> str:
    """results.md sections: linear probe per initialisation, equivariance of the pretraining projection."""
    lines = []
    if diag['probes']:
        mean = next(iter(diag['probes'].values()))['mean_pose']
        lines += ['', '## Linear probe of the frozen backbones', '',
                  'Ridge regression from globally pooled features onto the 2.5-D targets (`tools/linear_probe.py`; '
                  'penalty chosen on held-out training samples), scored on the evaluation split.', '',
                  '| backbone | uv error (px) ↓ | PA-EPE (mm) ↓ | root-relative EPE (mm) ↓ |', '| --- | ---: | ---: | ---: |',
                  f'| mean training pose | {mean["uv_px"]:.2f} | {mean["PA-EPE"]:.2f} | {mean["RR-EPE"]:.1f} |']
        for init, res in diag['probes'].items():
            name = 'random weights' if init == 'scratch' else LABELS[init]
            p = res['probe']
            lines.append(f'| {name} | {p["uv_px"]:.2f} | {p["PA-EPE"]:.2f} | {p["RR-EPE"]:.1f} |')
    if diag['gaps']:
        lines += ['', '## Equivariance of the pretraining projection', '',
                  '`EquivarianceMonitorHook`, eval-mode BN: mean positive-pair cosine with the views\' rotation and '
                  'translation undone minus without (positive: the latent moves with the image; an invariant '
                  'latent gives a negative value set by the augmentation ranges).', '',
                  '| algorithm | iteration | gap | undone | raw | feature rank |', '| --- | ---: | ---: | ---: | ---: | ---: |']
        for algo, recs in diag['gaps'].items():
            for r in recs[1:] if len(recs) > 1 else recs:
                lines.append(f'| {LABELS[algo]} | {r["step"]} | {r["eval_gap"]:+.3f} | {r["eval_undone"]:.3f} | '
                             f'{r["eval_raw"]:.3f} | {r["eval_feat_rank"]:.1f} |')
    return '\n'.join(lines) + ('\n' if lines else '')


def collect_seeds(work: Path, inits, seeds, main_seed: int) -> dict:
    """Per pretraining seed: the final eval-mode gap of each pretraining run (``<algo>/gap``) and each
    initialisation's probe (``<init>/uv_px``, ``<init>/PA-EPE``). Runs of seeds other than ``main_seed``
    live in ``pretrain/<algo>_seed<S>`` and ``probe/<init>_seed<S>``."""
    out = {}
    for seed in seeds:
        sfx = '' if seed == main_seed else f'_seed{seed}'
        rec = {}
        for init in inits:
            path = work / 'probe' / (init + sfx) / 'probe.json'
            if path.exists():
                probe = json.loads(path.read_text())['probe']
                rec[f'{init}/uv_px'], rec[f'{init}/PA-EPE'] = probe['uv_px'], probe['PA-EPE']
        for algo in ('simclr', 'peclr'):
            if algo in inits and (work / 'pretrain' / (algo + sfx)).is_dir():
                recs = load_scalars(work / 'pretrain' / (algo + sfx), 'equivariance/')
                rec[f'{algo}/gap'] = recs[-1]['equivariance/eval_gap']
        out[seed] = rec
    return out


def seed_table(per_seed: dict) -> list[str]:
    """results.md lines: mean +- sd over pretraining seeds per initialisation, and PeCLR - SimCLR per seed."""
    seeds = sorted(per_seed)
    lines = ['', f'## Across pretraining seeds ({", ".join(map(str, seeds))})', '',
             'Mean ± sd (sample) over the seeds; the paired column is PeCLR − SimCLR on each seed.', '',
             '| measure | ' + ' | '.join(LABELS[i] if i != 'scratch' else 'random weights'
                                       for i in ('scratch', 'simclr', 'peclr')) + ' | paired PeCLR − SimCLR |',
             '| --- | ---: | ---: | ---: | --- |']
    for key, name in (('gap', 'equivariance gap (eval BN)'), ('uv_px', 'probe uv error (px)'),
                      ('PA-EPE', 'probe PA-EPE (mm)')):
        cells = []
        for init in ('scratch', 'simclr', 'peclr'):
            vals = [per_seed[s][f'{init}/{key}'] for s in seeds if f'{init}/{key}' in per_seed[s]]
            cells.append(f'{np.mean(vals):+.3f} ± {np.std(vals, ddof=1):.3f}' if len(vals) > 1 else
                         (f'{vals[0]:+.3f}' if vals else ''))
        both = [s for s in seeds if f'peclr/{key}' in per_seed[s] and f'simclr/{key}' in per_seed[s]]
        diffs = [per_seed[s][f'peclr/{key}'] - per_seed[s][f'simclr/{key}'] for s in both]
        paired = (f'{np.mean(diffs):+.3f} ± {np.std(diffs, ddof=1):.3f} ('
                  + ', '.join(f'{d:+.3f}' for d in diffs) + ')') if len(diffs) > 1 else ''
        lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {paired} |')
    return lines


def plot_equivariance(gaps: dict, path: Path) -> None:
    """equivariance.png: eval-mode gap against iterations for each pretraining algorithm."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for algo, recs in gaps.items():
        recs = recs[1:] if len(recs) > 1 else recs  # iteration 0: random weights, off the scale
        ax.plot([r['step'] for r in recs], [r['eval_gap'] for r in recs], 'o-', color=COLORS[algo],
                label=LABELS[algo])
    ax.axhline(0.0, color='k', lw=0.8)
    ax.set_xlabel('pretraining iteration')
    ax.set_ylabel('cos(undone) - cos(raw), eval BN')
    ax.set_title('Equivariance of the projection (positive: equivariant)')
    ax.legend()
    _save_fig(fig, path)


def write_report(work: Path, data_root: Path, settings: dict, walls: dict, total_wall: float, inits, fractions,
                 num_pictures: int = 3, seed: int = 0) -> dict:
    """Write results.md / results.json / results.png / predictions/*.png under ``work``."""
    rows = collect(work, inits, fractions)
    gt, K = load_eval_gt(data_root)
    curves = pck_curves(rows, gt)
    for r in rows:  # the numpy core and FreiHandMetric (via tools/test.py) must agree on the same pred.json
        c = curves[_run_name(r['init'], r['label_fraction'])]
        for key, mine in (('EPE', c['epe_mm']), ('PA-EPE', c['pa_epe_mm'])):
            if abs(mine - r['metrics'][key]) > 1e-3:
                raise ValueError(f'{r["dir"]}: {key} from pred.json {mine:.4f} != FreiHandMetric '
                                 f'{r["metrics"][key]:.4f}')
    reference = mean_pose_reference(data_root, gt)
    md = work / 'results.md'
    diag = collect_diagnostics(work, inits)
    seeds = settings.get('pretrain_seeds') or [seed]
    per_seed = collect_seeds(work, inits, seeds, seed) if len(seeds) > 1 else {}
    extra = '\n'.join(seed_table(per_seed)) + '\n' if per_seed else ''
    atomic_write_text(md, write_table(rows, settings, walls, total_wall, reference) + diagnostics_table(diag)
                      + extra)
    atomic_write_json(work / 'results.json', dict(
        settings=settings, walls_s=walls, total_wall_s=total_wall,
        results=[dict(init=r['init'], label_fraction=r['label_fraction'], config=r['config'], **r['metrics'],
                      finetune_wall_s=r['finetune_wall_s']) for r in rows],
        pck=curves, mean_pose_reference=reference, linear_probe=diag['probes'], equivariance=diag['gaps'],
        across_seeds={str(k): v for k, v in per_seed.items()}))
    if diag['gaps']:
        plot_equivariance(diag['gaps'], work / 'equivariance.png')
    png = work / 'results.png'
    plot_results(rows, curves, inits, fractions, png, reference)
    ids = sorted(np.random.default_rng(seed).choice(len(gt), min(num_pictures, len(gt)), replace=False).tolist())
    pictures = []
    for r in rows:
        p = work / 'predictions' / f'{_run_name(r["init"], r["label_fraction"])}.png'
        plot_predictions(r, data_root, gt, K, ids, p)
        pictures.append(p)
    return dict(md=md, png=png, pictures=pictures)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Rebuild the report of a finished tools/demo.py run.')
    parser.add_argument('work_dir')
    args = parser.parse_args(argv)
    work = Path(args.work_dir).resolve()
    prev = json.loads((work / 'results.json').read_text())
    s = prev['settings']
    out = write_report(work, Path(s['data_root']), s, prev['walls_s'], prev['total_wall_s'], s['inits'],
                       s['fractions'], num_pictures=s.get('num_pictures', 3), seed=s['seed'])
    print(out['md'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
