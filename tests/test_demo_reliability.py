"""The demo's resume and process handling with cheap ``python -c`` stages: a stage reruns when an upstream
output, the data it reads or its own output changed; a truncated stamp reruns it; SIGTERM / Ctrl-C stop
every stage process and leave the stages marked interrupted; a folder the project did not render (or a
symbolic link) is never written into or deleted; the report's errors are one line naming the file."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from peclr_lab.experiments import plan as P
from peclr_lab.experiments.cli import demo_main, report_main
from peclr_lab.experiments.presets import resolve
from peclr_lab.experiments.stages import Stage, rerun_reason, run_stages, stage_key
from peclr_lab.synthetic import make_synthetic_freihand

ROOT = Path(__file__).resolve().parents[1]


def _stage(tmp: Path, name: str, value: str = '', deps=(), inputs=()) -> Stage:
    """A stage that appends a line to ``runs`` and writes ``done``: ``value`` and the time (every run of it
    gives a new output, as a training's checkpoint does)."""
    out = tmp / name
    code = (f'import pathlib, time; out = pathlib.Path({str(out)!r})\n'
            'with open(out / "runs", "a") as f: f.write("x\\n")\n'
            f'(out / "done").write_text({value!r} + str(time.time_ns()))')
    return Stage(name, [sys.executable, '-c', code], out, out / 'done', deps=tuple(deps),
                 inputs=tuple(inputs))


def _runs(stages) -> dict[str, int]:
    return {s.name: len((s.out / 'runs').read_text().splitlines()) for s in stages}


def _chain(tmp: Path, value: str = '') -> list[Stage]:
    """a -> b -> c, and d on its own."""
    return [_stage(tmp, 'a', value), _stage(tmp, 'b', deps=['a']), _stage(tmp, 'c', deps=['b']),
            _stage(tmp, 'd')]


def test_changed_upstream_output_reruns_every_downstream_stage(tmp_path, capsys):
    run_stages(_chain(tmp_path), jobs=2)
    run_stages(_chain(tmp_path), jobs=2)
    assert _runs(_chain(tmp_path)) == dict(a=1, b=1, c=1, d=1)  # nothing changed: all skipped
    run_stages(_chain(tmp_path, value='lr=0.5'), jobs=2)  # a's command changed: a reruns, so do b and c
    assert _runs(_chain(tmp_path)) == dict(a=2, b=2, c=2, d=1)
    assert '[b] rerun: output of a changed' in capsys.readouterr().out
    (tmp_path / 'a' / 'done').write_text('replaced by hand')  # a's output changed, its command did not
    run_stages(_chain(tmp_path, value='lr=0.5'), jobs=2)
    assert _runs(_chain(tmp_path)) == dict(a=2, b=3, c=3, d=1)


def test_changed_data_reruns_the_stages_that_read_it(tmp_path, capsys):
    data = make_synthetic_freihand(tmp_path / 'data', 1, 1, size=32, progress=False)

    def plan():
        return [_stage(tmp_path, 'train', inputs=[data]), _stage(tmp_path, 'export', deps=['train']),
                _stage(tmp_path, 'other')]

    run_stages(plan(), jobs=2)
    make_synthetic_freihand(data, 1, 1, size=32, progress=False, overwrite=True)  # the same settings, bytes
    run_stages(plan(), jobs=2)
    assert _runs(plan()) == dict(train=1, export=1, other=1)
    make_synthetic_freihand(data, 2, 1, size=32, progress=False, overwrite=True)  # re-rendered, another size
    run_stages(plan(), jobs=2)
    assert _runs(plan()) == dict(train=2, export=2, other=1)
    assert f'[train] rerun: input {data} changed' in capsys.readouterr().out
    xyz = data / 'training_xyz.json'  # annotations edited by hand, the render settings (marker) unchanged
    xyz.write_text(json.dumps((np.asarray(json.loads(xyz.read_text())) * 1.01).tolist()))
    run_stages(plan(), jobs=2)
    assert _runs(plan()) == dict(train=3, export=3, other=1)


def test_deleted_output_reruns_the_stage_and_its_dependants(tmp_path):
    run_stages(_chain(tmp_path), jobs=2)
    (tmp_path / 'b' / 'done').unlink()
    run_stages(_chain(tmp_path), jobs=2)
    assert _runs(_chain(tmp_path)) == dict(a=1, b=2, c=2, d=1)


def test_truncated_stamp_reruns_the_stage_with_one_warning(tmp_path, capsys):
    run_stages(_chain(tmp_path), jobs=1)
    stamp = tmp_path / 'b' / 'stage.json'
    stamp.write_text(stamp.read_text()[:40])
    capsys.readouterr()
    run_stages(_chain(tmp_path), jobs=1)
    out = capsys.readouterr().out
    assert _runs(_chain(tmp_path)) == dict(a=1, b=2, c=2, d=1)
    warnings = [line for line in out.splitlines() if line.startswith('warning:')]
    assert len(warnings) == 1 and str(stamp) in warnings[0] and 'Traceback' not in out


def test_demo_plan_chains_what_each_stage_reads(tmp_path):
    """Every upstream output a demo stage reads is a dependency (its hash is in the stamp), and every stage
    that reads the data set lists it as an input."""
    opts = P.DemoOptions(work=tmp_path / 'w', data_root=tmp_path / 'data')
    stages = P.demo_plan(opts, resolve('quick'))
    by_name = {s.name: s for s in stages}
    for s in stages:
        cmd = [str(c) for c in s.cmd]
        produced_here = {str(o.done) for o in stages if o is not s}
        read = {c.split('=', 1)[-1] for c in cmd} & produced_here
        assert read == {str(by_name[d].done) for d in s.deps}, s.name
        reads_data = any(str(opts.data_root) in c for c in cmd)
        assert (opts.data_root in s.inputs) == reads_data, s.name


# -- SIGTERM / Ctrl-C ------------------------------------------------------------------------------------

# A long stage: records its pid and its child's (a data loader worker, say), prints a line, sleeps.
_LONG = ('import os, pathlib, subprocess, sys, time; out = pathlib.Path({out!r}); '
         'kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]); '
         'out.joinpath("pids").write_text("%d %d" % (os.getpid(), kid.pid)); print("started", flush=True); '
         'time.sleep(float(os.environ.get("FAKE_SLEEP", "60"))); kid.kill(); '
         'out.joinpath("done").write_text("x")')

_DRIVER = '''
import sys
from pathlib import Path
from peclr_lab.experiments import cli, demo
from peclr_lab.experiments.stages import Stage
work = Path(sys.argv[1])
demo.demo_plan = lambda opts, preset: [
    Stage(n, [sys.executable, '-c', {long!r}.format(out=str(work / n))], work / n, work / n / 'done')
    for n in ('long0', 'long1')]
sys.exit(cli.demo_main(['--quick', '--work-dir', str(work), '--num-train', '1', '--num-eval', '1']))
'''


def _long_stages(work: Path) -> list[Stage]:
    return [Stage(n, [sys.executable, '-c', _LONG.format(out=str(work / n))], work / n, work / n / 'done')
            for n in ('long0', 'long1')]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped by its new parent) is not running
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_every_stage_process_and_marks_the_stages_interrupted(tmp_path, signum):
    work = tmp_path / 'w'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    demo = subprocess.Popen([sys.executable, '-c', _DRIVER.format(long=_LONG), str(work)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    pids: list[int] = []
    try:
        deadline = time.time() + 120
        while len(pids) < 4 and time.time() < deadline and demo.poll() is None:
            time.sleep(0.2)
            pids = [int(p) for n in ('long0', 'long1') if (work / n / 'pids').exists()
                    for p in (work / n / 'pids').read_text().split()]
        assert len(pids) == 4, demo.communicate(timeout=30)
        t0 = time.time()
        demo.send_signal(signum)
        out, err = demo.communicate(timeout=30)
        assert time.time() - t0 < 8, 'the demo did not stop within a few seconds'
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    name = signal.Signals(signum).name
    assert demo.returncode == 128 + signum, out + err
    assert 'Traceback' not in out + err
    assert err.strip().splitlines()[-1] == (f'tools/demo.py: interrupted by {name}; stopped long0, long1 '
                                            '(not done: a rerun restarts them)'), err
    alive = [p for p in pids if _alive(p)]
    assert not alive, f'stage processes left running: {alive}'
    stages = _long_stages(work)
    for s in stages:
        assert json.loads((s.out / 'stage.json').read_text())['status'] == 'interrupted'
        log = (s.out / 'stage.log').read_text()
        assert log.startswith('started\n') and f'# interrupted by {name}' in log
        assert rerun_reason(s, stage_key(s)) == 'interrupted before'
    run_stages(stages, jobs=2, env=dict(env, FAKE_SLEEP='0'))  # a rerun runs them to the end
    assert all(json.loads((s.out / 'stage.json').read_text())['status'] == 'done' for s in stages)


# -- a folder the project did not render -----------------------------------------------------------------

def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def _demo_error(work: Path, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        demo_main(['--quick', '--work-dir', str(work), '--num-train', '1', '--num-eval', '1'])
    assert capsys.readouterr().err == ''
    return str(exit_.value.code)


def test_a_folder_the_demo_did_not_render_is_never_written_or_deleted(tmp_path, capsys):
    user = tmp_path / 'user'
    user.mkdir()
    (user / 'notes.txt').write_text('mine')
    mine = _files(user)
    for kind in ('symlink', 'folder'):  # W/data: a link to the user's folder; the user's folder itself
        work = tmp_path / kind
        work.mkdir()
        if kind == 'symlink':
            (work / 'data').symlink_to(user)
        else:
            (work / 'data').mkdir()
            (work / 'data' / 'notes.txt').write_text('mine')
        (work / 'data.json').write_text(json.dumps(dict(settings={}, wall_s=0.0)))  # a stamp beside it
        msg = _demo_error(work, capsys)
        assert '\n' not in msg and str(work / 'data') in msg, msg
        assert ('symbolic link' if kind == 'symlink' else 'not a dataset written by') in msg
        assert _files(user) == mine and _files(work / 'data') == mine  # no marker written, nothing deleted
    for target, why in ((user, 'not a dataset written by'), (tmp_path / 'symlink' / 'data', 'symbolic link')):
        res = subprocess.run([sys.executable, 'tools/make_synthetic_freihand.py', str(target), '--num-train',
                              '1', '--num-eval', '1', '--size', '32', '--overwrite', '--no-progress'],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and why in res.stderr, res.stderr
    assert _files(user) == mine and (tmp_path / 'symlink' / 'data').is_symlink()


# -- the report ------------------------------------------------------------------------------------------

def test_report_errors_are_one_line_naming_the_file(tmp_path):
    from test_experiments import _fake_work

    work, data, runs, settings = _fake_work(tmp_path)
    for r in runs:
        (Path(r['dir']) / 'metrics.json').write_text(json.dumps({k: v for k, v in r.items() if k != 'dir'}))
    results = work / 'results.json'
    results.write_text(json.dumps(dict(settings=settings, results=[dict(name=r['name']) for r in runs],
                                       walls_s={}, total_wall_s=0.0)))
    gt = data / 'evaluation_xyz.json'
    gt.write_text(json.dumps((np.asarray(json.loads(gt.read_text())) + 0.01).tolist()))  # data changed
    with pytest.raises(SystemExit) as exit_:
        report_main([str(work)])
    msg = str(exit_.value.code)
    first = Path(runs[0]['dir']) / 'pred.json'
    assert '\n' not in msg and msg.startswith(f'tools/demo_report.py: error: {first}: EPE ')
    assert 'FreiHandMetric logged' in msg
    results.write_text(results.read_text()[:30])  # truncated
    with pytest.raises(SystemExit) as exit_:
        report_main([str(work)])
    msg = str(exit_.value.code)
    assert '\n' not in msg and f'{results}: malformed JSON' in msg


def test_edited_config_reruns_its_stage(tmp_path, capsys):
    """The same command line, an edited config (or base): the resolved config's fingerprint reruns it."""
    cfg = tmp_path / 'configs' / 'run.py'
    cfg.parent.mkdir()
    (tmp_path / 'configs' / 'base.py').write_text('lr = 0.1\n')
    cfg.write_text("_base_ = ['./base.py']\nmax_iters = 4\n")

    def plan():
        s = _stage(tmp_path, 'train')
        return [Stage(s.name, [*s.cmd, str(cfg)], s.out, s.done), _stage(tmp_path, 'export', deps=['train'])]

    run_stages(plan(), jobs=1)
    run_stages(plan(), jobs=1)
    assert _runs(plan()) == dict(train=1, export=1)
    (tmp_path / 'configs' / 'base.py').write_text('lr = 0.5\n')  # the base, not the file on the command line
    run_stages(plan(), jobs=1)
    assert _runs(plan()) == dict(train=2, export=2)
    assert '[train] rerun: config changed' in capsys.readouterr().out
