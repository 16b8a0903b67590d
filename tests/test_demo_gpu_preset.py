"""`make demo PRESET=gpu` on a machine without CUDA, shrunk to a few iterations: the path CI keeps working
between GPU loans (its own file, so that pytest-xdist runs it beside tests/test_demo.py)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_preset_runs_tiny_on_the_cpu(tmp_path):
    """`--preset gpu` on a machine without CUDA: the GPU configs (full-width ResNet-18, 128 px) shrunk by options to
    one init, one seed and two iterations, their bf16 AMP wrapper rebuilt as fp32, the loaders' workers set; the
    report records the device. The path CI keeps working between GPU loans."""
    work = tmp_path / 'w'
    tiny = ['--inits', 'peclr', '--fractions', '1.0', '--seeds', '0', '--num-train', '8', '--num-eval', '4',
            '--pretrain-iters', '2', '--finetune-iters', '2', '--probe-train', '16',
            '--pretrain-options', 'train_dataloader.batch_size=4', 'custom_hooks.0.num_samples=4',
            '--finetune-options', 'train_dataloader.batch_size=4', 'test_dataloader.batch_size=4']
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run([sys.executable, 'tools/demo.py', '--preset', 'gpu', '--work-dir', str(work), *tiny],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.stdout.count('running the GPU preset on the CPU') == 1
    res = json.loads((work / 'results.json').read_text())
    assert res['settings']['scale'] == 'demo-gpu' and res['settings']['device'].endswith('no CUDA device')
    md = (work / 'results.md').read_text()
    assert f'Device: **{res["settings"]["device"]}**' in md and 'ResNet-18 at 128 px' in md
    cmd = json.loads((work / 'pretrain' / 'peclr_s0' / 'stage.json').read_text())['cmd']
    assert cmd[2].endswith('configs/demo/peclr_resnet18_1xb256-1000it_synth-freihand-128px.py')
    assert 'optim_wrapper.type=OptimWrapper' in cmd and 'train_dataloader.num_workers=1' in cmd
    metrics = json.loads((work / 'finetune' / 'peclr_100pct_s0' / 'metrics.json').read_text())
    assert metrics['config'] == 'configs/demo/td-reg25d_res18-peclr_1xb128-500it_synth-freihand3d-128x128.py'
    m = metrics['metrics']
    assert math.isfinite(m['PA-EPE']) and f'| PeCLR | 100 % | 0 | {m["EPE"]:.2f} | {m["PA-EPE"]:.2f} |' in md
    # the geometry probe of the seed: PeCLR (with its projection) beside random weights, at every label only
    # (its 16 images are fewer than the 200-label budget)
    rows = json.loads((work / 'probe' / 'geometry_s0' / 'geometry.json').read_text())['rows']
    peclr = [r for r in rows if r['backbone'] == 'peclr']
    assert {r['features'] for r in peclr} == {'pooled last stage', 'stage 3 4x4', 'projection z'}
    assert {r['budget'] for r in rows} == {'all'} and all(math.isfinite(r['uv_px']) for r in peclr)
