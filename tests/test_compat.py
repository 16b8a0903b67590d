"""peclr_mm.compat is the one home of every change the plugin makes to upstream (docs/compat.md).

- runtime: importing the plugin changes exactly the upstream attributes its table names (where needed);
- static: no other module of peclr_mm/ or tools/ assigns to an upstream module or class;
- one test per patch (``test_defect_<function>``) calls upstream's ORIGINAL code and asserts the defect still
  reproduces: when one fails, upstream no longer needs that patch; drop it (docs/compat.md says how).
"""
from __future__ import annotations

import ast
import io
import json
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import peclr_mm.pose  # noqa: F401  (applies compat, with the selfsup half below)
import peclr_mm.selfsup  # noqa: F401
from peclr_mm import compat
from peclr_mm.compat import _patching, checkpoint_loading, config_prefix, cpu_distributed, visualization
from peclr_mm.compat import inferencer_routing as routing

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ('mmengine', 'mmcv', 'mmpretrain', 'mmpose', 'mmdet', 'matplotlib')


# --- the table ---

def test_table_is_complete_and_documented():
    names = [p.function.__name__ for p in compat.PATCHES]
    assert len(set(names)) == len(names)
    doc = (ROOT / 'docs' / 'compat.md').read_text()
    for patch in compat.PATCHES:
        assert patch.library in UPSTREAM and patch.versions and patch.reason and patch.targets
        fn = patch.function
        assert fn.__doc__ and 'Upstream defect' in fn.__doc__, patch.name
        assert callable(globals().get(f'test_defect_{fn.__name__}')), f'{patch.name} has no defect test'
        assert fn.__name__ in doc and f'test_defect_{fn.__name__}' in doc, f'{patch.name} not in docs/compat.md'
        assert all(t in doc for t in patch.targets), patch.targets


def test_apply_is_idempotent_and_keeps_originals():
    assert compat.apply() == []  # the halves applied everything at import
    for patch in compat.PATCHES:
        if not patch.needed():
            continue
        for target in patch.targets:
            now = _patching.resolve(target)
            assert now is not _patching.ABSENT and target in _patching.ORIGINALS, target
            if callable(now) and not isinstance(now, type):
                assert _patching.is_patched(now) and _patching.unpatched(now) is compat.original(target), target


def test_compat_imports_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); import peclr_mm.compat, peclr_mm.mim\n"
            "print([m for m in set(sys.modules) - before if m.split('.')[0] not in ('peclr_mm',) and "
            "m.split('.')[0] not in sys.stdlib_module_names])")
    out = subprocess.run([sys.executable, '-S', '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[]', out.stdout


# --- runtime: what importing the plugin changes in upstream equals the table's targets ---

_SNAPSHOT = r'''
import importlib, json, pkgutil, sys
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != 'peclr_mm.mim']  # no start-up hooks yet
UPSTREAM = tuple(json.loads(sys.argv[1]))
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
    except Exception:
        pass
import peclr_mm.compat  # the table's targets are imported first (it imports no upstream module itself)
import matplotlib
matplotlib.get_backend()  # matplotlib resolves its default backend on first use: upstream's own state

def contents(value):
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (set, frozenset, list)):
        return list(value)
    return None

def snapshot():
    attrs = {}
    for name, module in list(sys.modules.items()):
        if name.split('.')[0] not in UPSTREAM or module is None:
            continue
        for key, value in list(vars(module).items()):
            if key == '__warningregistry__' or type(value).__name__ == 'module':
                continue
            attrs[f'{name}.{key}'] = (value, contents(value))
            if isinstance(value, type) and value.__module__.split('.')[0] in UPSTREAM:
                owner = f'{value.__module__}.{value.__qualname__}'
                for k, v in list(vars(value).items()):
                    attrs[f'{owner}.{k}'] = (v, contents(v))
    return attrs

def same(old, new):  # the object itself, or an equal plain value (strings are not always interned)
    return old is new or (type(old) in (str, bytes, int, float, bool, tuple) and type(new) is type(old)
                          and old == new)

before = snapshot()
import peclr_mm.mim
peclr_mm.mim.install()  # what the .pth does at start-up: hooks for the imported upstream modules run now
import peclr_mm.selfsup, peclr_mm.pose
for info in pkgutil.walk_packages(peclr_mm.__path__, 'peclr_mm.'):  # every other module of the plugin
    try:
        importlib.import_module(info.name)
    except Exception:
        pass
after = snapshot()
aliases = {}  # a dict/set/list bound under several names (re-exports): one change, all its names
for key, (value, data) in before.items():
    if data is not None:
        aliases.setdefault(id(value), []).append(key)
changed = []  # groups of names of one change
for key, (value, data) in before.items():
    new, new_data = after.get(key, (None, None))
    if key not in after or not same(value, new):
        changed.append([key])
    elif isinstance(data, dict):
        changed += [[f'{name}[{k!r}]' for name in aliases[id(value)]] for k in set(data) | set(new_data)
                    if k not in data or k not in new_data or not same(data[k], new_data[k])]
    elif data is not None and data != new_data:
        changed.append(aliases[id(value)])
owners = {b.rpartition('.')[0] for b in before}
changed += [[k] for k in after if k not in before and k.rpartition('.')[0] in owners]
changed = sorted({tuple(sorted(group)) for group in changed})
print(json.dumps({'changed': sorted(changed), 'needed': sorted(peclr_mm.compat.needed_targets())}))
'''


def test_importing_the_plugin_changes_exactly_the_table_targets():
    upstream = sorted(m for m in sys.modules if m.split('.')[0] in UPSTREAM)  # what the halves import
    proc = subprocess.run([sys.executable, '-c', _SNAPSHOT, json.dumps(UPSTREAM), json.dumps(upstream)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    needed = set(out['needed'])
    groups = [{name.replace('"', "'") for name in group} for group in out['changed']]
    unlisted = [sorted(g) for g in groups if len(g & needed) != 1]  # an alias group names one target
    unchanged = sorted(needed - {t for g in groups for t in g})
    assert not unlisted and not unchanged, f'not in the table: {unlisted}; in the table, unchanged: {unchanged}'
    assert needed <= {t for p in compat.PATCHES for t in p.targets}


# --- static: nothing outside peclr_mm/compat assigns to upstream ---

def _upstream_names(tree: ast.AST) -> set[str]:
    """Names bound to upstream modules/classes: imports from them, ``sys.modules[...]``,
    ``importlib.import_module(...)``, and attributes read from such names (``cls = module.Config``)."""
    def is_upstream(module: str | None) -> bool:
        return bool(module) and module.split('.')[0] in UPSTREAM

    names: set[str] = {SYS_MODULES}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split('.')[0] for a in node.names if is_upstream(a.name)}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and is_upstream(node.module):
            names |= {a.asname or a.name for a in node.names}
    assigns = [n for n in ast.walk(tree) if isinstance(n, ast.Assign) and len(n.targets) == 1
               and isinstance(n.targets[0], ast.Name)]
    for _ in range(3):  # propagate through `x = upstream.attr` chains
        for node in assigns:
            value, target = node.value, node.targets[0].id
            if isinstance(value, ast.Subscript) and ast.unparse(value.value) == 'sys.modules':
                names.add(target)
            elif isinstance(value, ast.Call) and ast.unparse(value.func) in ('importlib.import_module',
                                                                              'import_module'):
                names.add(target)
            elif isinstance(value, ast.Attribute | ast.Subscript) and _root(value) in names:
                names.add(target)
    return names


SYS_MODULES = '<sys.modules>'  # the root of ``sys.modules['mm...'].attr``
MUTATORS = {'setdefault', 'update', 'pop', 'popitem', 'clear', 'add', 'discard', 'remove', 'append', 'extend',
            'insert', '__setitem__', '__delitem__'}


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == 'sys.modules':
            return SYS_MODULES
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def upstream_assignments(source: str, filename: str = '<src>') -> list[str]:
    """``file:line`` of each assignment, augmented assignment, ``setattr``/``delattr``, ``del`` or in-place
    container call (``.setdefault``, ``.update``, ...) whose target is an attribute (or an item of one) of a
    name bound to an upstream module or class."""
    tree = ast.parse(source, filename)
    names = _upstream_names(tree)
    hits = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ('setattr', 'delattr') and node.args):
            if _root(node.args[0]) in names:
                hits.append(f'{filename}:{node.lineno}: {ast.unparse(node)[:80]}')
            continue
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS
              and isinstance(node.func.value, ast.Attribute) and _root(node.func.value) in names):
            hits.append(f'{filename}:{node.lineno}: {ast.unparse(node)[:80]}')
            continue
        for target in targets:
            if isinstance(target, ast.Attribute | ast.Subscript) and _root(target) in names:
                hits.append(f'{filename}:{node.lineno}: {ast.unparse(target)} = ...')
    return hits


def test_static_checker_finds_upstream_assignments():
    src = textwrap.dedent('''
        import sys
        import mmengine.dist.utils as du
        from mmengine.config import Config
        from mmpose.apis.inferencers import mmpose_inferencer as mi
        du._init_dist_pytorch = None
        Config._get_cfg_path = staticmethod(len)
        setattr(mi, 'Hand3DInferencer', None)
        mi.MMPoseInferencer.preprocess_kwargs |= {'K'}
        utils = sys.modules['mmengine.config.utils']
        utils.MODULE2PACKAGE['x'] = 'x'
        cls = utils.Something
        cls.attr = 1
        local = object()
        local.attr = 1
        utils.MODULE2PACKAGE.setdefault('x', 'x')
        sys.modules['mmengine.config.config'].Config.x = 1
        config_cls = sys.modules['mmengine.config.config'].Config
        config_cls.y = 2
        mi.MMPoseInferencer.preprocess_kwargs.issubset({'K'})
        registry = object()
        registry.register_module(local)
    ''')
    assert sorted(int(h.split(':')[1]) for h in upstream_assignments(src)) == [6, 7, 8, 9, 11, 13, 16, 17, 19]


def test_no_upstream_assignment_outside_compat():
    files = [p for d in ('peclr_mm', 'tools') for p in sorted((ROOT / d).rglob('*.py'))
             if 'compat' not in p.relative_to(ROOT).parts[:2] and '.mim' not in p.parts]
    hits = [h for p in files for h in upstream_assignments(p.read_text(), str(p.relative_to(ROOT)))]
    assert not hits, 'assignments to upstream outside peclr_mm/compat (add a patch there):\n' + '\n'.join(hits)


# --- one test per patch: upstream's original code still has the defect ---

def test_defect_register_config_prefix(monkeypatch):
    utils = sys.modules['mmengine.config.utils']
    assert compat.original(config_prefix.TARGETS[0]) is _patching.ABSENT  # mmengine's table lacks peclr_mm
    monkeypatch.delitem(utils.MODULE2PACKAGE, 'peclr_mm')
    original = compat.original(config_prefix.TARGETS[1])
    with pytest.raises((AssertionError, ValueError, KeyError, ModuleNotFoundError)):  # "does not support"
        original('peclr_mm::peclr/peclr_resnet18_1xb4-4it_freihand-64px.py', str(ROOT / 'x.py'))
    monkeypatch.setitem(utils.MODULE2PACKAGE, 'peclr_mm', 'peclr_mm')  # even listed: the package's scope
    try:
        _, scope = original('peclr_mm::peclr/peclr_resnet18_1xb4-4it_freihand-64px.py', str(ROOT / 'x.py'))
    except (AssertionError, ValueError, FileNotFoundError, ModuleNotFoundError):
        scope = 'error'
    assert scope in ('peclr_mm', 'error')
    assert config_prefix.needs_config_prefix()


def test_defect_route_pose3d_inferencers(monkeypatch):
    module = sys.modules[routing.MODULE]
    picked = []

    class Picked(Exception):
        pass

    for name in routing.NAMES:
        def record(*args, _name=name, **kwargs):
            picked.append(_name)
            raise Picked
        monkeypatch.setattr(module, name, record)  # what mmpose's own __init__ looks up, by name
    for path in ('configs/freihand3d/td-reg25d.py', 'work/td-reg25d.py'):  # 'freihand3d' holds 'hand3d'
        with pytest.raises(Picked):
            module.MMPoseInferencer(pose3d=path)
    assert picked == ['Hand3DInferencer', 'Pose3DInferencer']  # by file name, whatever the head
    assert not routing.CALL_KWARGS & compat.original(routing.TARGETS[2])  # K, bone_length dropped
    assert routing.needs_inferencer_routing()


@pytest.mark.skipif(torch.cuda.is_available(), reason='the defect is on CPU machines')
def test_defect_skip_cuda_set_device_on_cpu(monkeypatch):
    inits = []
    monkeypatch.setattr(torch.distributed, 'init_process_group', lambda **kw: inits.append(kw))
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1').items():
        monkeypatch.setenv(key, value)
    with pytest.raises((RuntimeError, AssertionError)):  # torch.cuda.set_device: no NVIDIA driver / no CUDA
        compat.original(cpu_distributed.LAUNCHER_TARGET)('gloo')
    assert not inits
    assert cpu_distributed.needs_cpu_distributed()


def test_defect_drop_ddp_device_ids_on_cpu(monkeypatch):
    from mmengine.model.wrappers import MMDistributedDataParallel
    from torch.nn.parallel import DistributedDataParallel
    seen = {}

    def torch_ddp_init(self, module, **kwargs):  # torch's DDP refuses device_ids for a CPU module
        torch.nn.Module.__init__(self)
        seen.update(kwargs)

    monkeypatch.setattr(DistributedDataParallel, '__init__', torch_ddp_init)
    ddp = MMDistributedDataParallel.__new__(MMDistributedDataParallel)
    compat.original(cpu_distributed.DDP_TARGET)(ddp, module=torch.nn.Linear(2, 2), device_ids=[0])
    assert seen.get('device_ids') == [0]  # mmengine passes them on for a CPU module
    assert cpu_distributed.needs_cpu_distributed()


def test_defect_pickle_history_buffer_as_data(monkeypatch):
    from mmengine.logging import HistoryBuffer
    monkeypatch.setattr(HistoryBuffer, '__getstate__', compat.original(checkpoint_loading.GETSTATE_TARGET))
    buf = io.BytesIO()
    torch.save({'buffer': HistoryBuffer([1.0], [1])}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match='getattr'):  # with peclr_mm's allow-list in place
        torch.load(buf, weights_only=True)
    assert checkpoint_loading.needs_history_buffer_as_data()


class _Payload:
    def __reduce__(self):
        return (print, ('never run',))


def test_defect_route_checkpoint_schemes(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Payload()}, str(path))
    load_from_local = compat.original(checkpoint_loading.SCHEMES_TARGET)['']
    assert load_from_local.__module__ == 'mmengine.runner.checkpoint'
    with pytest.raises(pickle.UnpicklingError) as info:
        load_from_local(str(path), map_location='cpu')
    assert '\n' in str(info.value) and str(path) not in str(info.value)  # torch's how-to, no file name
    assert checkpoint_loading.needs_safe_scheme_loaders()


def test_defect_refuse_mismatched_pretrained(tmp_path):
    from mmengine.model.weight_init import PretrainedInit
    path = tmp_path / 'wide.pth'
    torch.save({'state_dict': {'weight': torch.ones(3, 2), 'bias': torch.ones(3)}}, str(path))
    model = torch.nn.Linear(2, 2)
    before = model.weight.detach().clone()
    original = compat.original(checkpoint_loading.PRETRAINED_TARGET)
    original(PretrainedInit(checkpoint=str(path)), model)  # no error: every tensor skipped, only logged
    assert torch.equal(model.weight, before)
    assert checkpoint_loading.needs_pretrained_check()


def test_defect_pass_0d_circle_radius():
    from mmpose.visualization.opencv_backend_visualizer import OpencvBackendVisualizer
    vis = OpencvBackendVisualizer(name='compat_defect', backend='opencv')
    vis.set_image(np.zeros((16, 16, 3), np.uint8))
    draw = compat.original(visualization.DRAW_CIRCLES_TARGET)

    def call():  # as PoseLocalVisualizer draws a keypoint
        draw(vis, np.array([8.0, 8.0]), radius=np.array([3]), face_colors=(255, 0, 0), edge_colors=(255, 0, 0))
    if np.lib.NumpyVersion(np.__version__) >= '2.5.0':
        with pytest.raises(TypeError):
            call()
        assert visualization.needs_0d_circle_radius()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter('error', DeprecationWarning)
            with pytest.raises(DeprecationWarning):  # numpy 1.25 .. 2.4: deprecated; 2.5: TypeError
                call()
        assert not visualization.needs_0d_circle_radius()


def test_defect_restore_canvas_tostring_rgb():
    import inspect

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from mmpose.visualization import Pose3dLocalVisualizer
    assert 'tostring_rgb' in inspect.getsource(Pose3dLocalVisualizer)  # mmpose still calls it
    missing = _patching.unpatched(getattr(FigureCanvasAgg, 'tostring_rgb', _patching.ABSENT)) is _patching.ABSENT
    assert missing == (tuple(int(p) for p in matplotlib.__version__.split('.')[:2]) >= (3, 10))
    assert missing, 'matplotlib has FigureCanvasAgg.tostring_rgb again'
    assert visualization.needs_canvas_tostring_rgb()
