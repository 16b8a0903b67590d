"""The check's results: ``gpu_check.json`` (rewritten after every step), ``gpu_check.md`` and
``gpu_check_logs.tar.gz``."""
from __future__ import annotations

import tarfile
from pathlib import Path

from peclr_mm.fileio import atomic_write_json, atomic_write_text

SCHEMA = 1
RESULT_JSON, RESULT_MD, RESULT_LOGS = 'gpu_check.json', 'gpu_check.md', 'gpu_check_logs.tar.gz'


def _fmt(x, spec: str = '.1f', unit: str = '') -> str:
    if x is None:
        return '–'
    return f'{x:{spec}}{unit}'


def markdown(res: dict) -> str:
    env = res.get('environment', {})
    card = env.get('gpu') or 'CPU (--tiny)'
    lines = [f'## peclr-mm GPU check, {res.get("date", "?")}, {card}', '',
             f'torch {env.get("torch")} (CUDA {env.get("torch_cuda")}), numpy {env.get("numpy")}, mmcv {env.get("mmcv")}, '
             f'mmengine {env.get("mmengine")}, mmpretrain {env.get("mmpretrain")}, mmpose {env.get("mmpose")}; '
             f'mode {res.get("mode")}; wall {_fmt(res.get("wall_s"), ".0f", " s")} (install '
             f'{_fmt((res.get("install") or {}).get("seconds"), ".0f", " s")}, data '
             f'{_fmt((res.get("data") or {}).get("seconds"), ".0f", " s")})', '',
             '| run | iters | batch | images/s | s/iter | loader share | GPU util (mean) | peak alloc (MiB) '
             '| nvidia-smi used (MiB) | loss first → last | wall |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for key, label in (('peclr', 'PeCLR pretrain'), ('simclr', 'SimCLR pretrain'), ('finetune', '2.5-D fine-tune')):
        r = res.get('runs', {}).get(key)
        if not r:
            continue
        if 'images_per_s' not in r:
            lines.append(f'| {label} | – | – | – | – | – | – | – | – | {r.get("status", "failed")} | '
                         f'{_fmt(r.get("wall_s"), ".0f", " s")} |')
            continue
        gpu = r.get('gpu') or {}
        lines.append(f'| {label} | {r["last_step"]} | {r["batch"]} | {r["images_per_s"]:.1f} | {r["s_per_iter"]:.3f} | '
                     f'{100 * r["loader_share"]:.1f} % | {_fmt(gpu.get("util_mean"), ".0f", " %")} | '
                     f'{_fmt(r.get("max_memory_mib"), ".0f")} | {_fmt(gpu.get("mem_used_mib_max"), ".0f")} | '
                     f'{_fmt(r.get("loss_first"), ".3f")} → {_fmt(r.get("loss_last"), ".3f")} | {r["wall_s"]:.0f} s |')
    ratio = res.get('peclr_over_simclr')
    if ratio is not None:
        lines += ['', f'PeCLR / SimCLR images/s: {ratio:.3f}']
    test = res.get('test_metrics')
    if test:
        lines += ['', 'Test (FreiHandMetric on the synthetic evaluation split; proves the path, not the accuracy): '
                  + ', '.join(f'{k} {v:.2f}' for k, v in test.items() if isinstance(v, float))]
    num = res.get('numerics')
    if num and 'rel_err' in num:
        e = num['rel_err']
        lines += ['', f'Numerics ({num["device"]} vs float64 CPU, PeCLR {num.get("model", "")}, {num["images"]} images at '
                  f'{num["size"]} px): loss fp32 {e["loss_fp32"]:.1e}, grads fp32 {e["grads_fp32"]:.1e} (CPU fp32: '
                  f'{e.get("grads_cpu_fp32", float("nan")):.1e}), '
                  f'loss bf16 {e["loss_bf16"]:.1e}, grads bf16 {e["grads_bf16"]:.1e}; gather under a 1-process '
                  f'{num.get("backend_seen", num["backend"])} group: loss {e.get("gather_loss", float("nan")):.1e}, '
                  f'grads {e.get("gather_grads", float("nan")):.1e}; '
                  + ('all checks pass' if num.get('ok') else 'FAILED: ' + ', '.join(
                      k for k, v in num.get('checks', {}).items() if not v)),
                  f'Peak GPU memory of the numerics: {_fmt(num.get("max_memory_allocated_mib"), ".0f", " MiB")}']
    if res.get('errors'):
        lines += ['', 'Errors: ' + '; '.join(e.splitlines()[0] for e in res['errors'])]
    lines += ['', f'Overall: {"PASS" if res.get("ok") else "FAIL"}']
    return '\n'.join(lines) + '\n'


def write_results(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / RESULT_JSON, res)
    atomic_write_text(out / RESULT_MD, markdown(res))


def pack_logs(work: Path, out: Path) -> None:
    """Stage logs, nvidia-smi samples, the numerics json and mmengine's own logs and dumped configs."""
    with tarfile.open(out / RESULT_LOGS, 'w:gz') as tar:
        for p in sorted(work.rglob('*')):
            if p.is_file() and (p.suffix in ('.log', '.csv') or p.name in ('numerics.json', 'scalars.json')
                                or (p.suffix == '.py' and 'runs' in p.parts)):
                tar.add(p, arcname=str(p.relative_to(work)))
