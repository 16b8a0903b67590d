"""mmengine checkpoints save, load and resume under torch's default safe loading (weights_only=True)."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from peclr_mm.checkpoint import UnsafeCheckpointError, load_checkpoint, register_safe_globals

register_safe_globals()


class _Points(Dataset):
    def __init__(self, n: int = 16):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], target=self.y[i])


class _Linear(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 1)

    def forward(self, inputs, target=None, mode="tensor"):
        out = self.fc(inputs).squeeze(-1)
        if mode == "loss":
            return dict(loss=((out - target) ** 2).mean())
        return out


def _runner(work_dir, max_iters, resume=False, load_from=None):
    return Runner(
        model=_Linear(), work_dir=str(work_dir), experiment_name=f"exp{max_iters}{resume}",
        train_dataloader=dict(dataset=_Points(), sampler=dict(type="DefaultSampler", shuffle=True),
                              batch_size=4, collate_fn=dict(type="default_collate"), num_workers=0),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01, momentum=0.9)),
        param_scheduler=dict(type="LinearLR", start_factor=0.5, by_epoch=False, begin=0, end=4),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=100),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=2, by_epoch=False),
                           logger=dict(type="LoggerHook", interval=1)),
        randomness=dict(seed=0), resume=resume, load_from=load_from, default_scope="mmengine")


def _pickle_globals(path) -> set[str]:
    import pickletools
    import zipfile

    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    return {str(arg) for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}


def test_resume_under_default_safe_loading(tmp_path):
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    first = _runner(tmp_path, max_iters=2)
    first.train()
    ckpt = tmp_path / "iter_2.pth"
    assert ckpt.is_file()

    # The checkpoint holds objects outside torch's default allow-list, but no callable such as getattr.
    names = _pickle_globals(ckpt)
    assert "mmengine.logging.history_buffer HistoryBuffer" in names
    assert not any("getattr" in n or "eval" in n for n in names)

    second = _runner(tmp_path, max_iters=4, resume=True, load_from=str(ckpt))
    second.load_or_resume()
    assert second.iter == 2
    saved = torch.load(str(ckpt), map_location="cpu")  # default weights_only=True, with our allow-list
    opt_now = second.optim_wrapper.optimizer.state_dict()
    for k, state in saved["optimizer"]["state"].items():
        torch.testing.assert_close(opt_now["state"][k]["momentum_buffer"], state["momentum_buffer"])
    for name, p in second.model.state_dict().items():
        torch.testing.assert_close(p, saved["state_dict"][name])
    second.train()  # and training goes on from iteration 2 to 4
    assert second.iter == 4


def test_without_allow_list_torch_refuses_mmengine_checkpoint(tmp_path):
    _runner(tmp_path, max_iters=2).train()
    code = (f"import torch, pickle\ntry:\n    torch.load({str(tmp_path / 'iter_2.pth')!r})\n"
            "except pickle.UnpicklingError as e:\n    print('refused', 'HistoryBuffer' in str(e))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "refused True"


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/peclr_mm_pwned",))


def test_malicious_checkpoint_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"x": _Payload()}}, str(path))
    if os.path.exists("/tmp/peclr_mm_pwned"):
        os.remove("/tmp/peclr_mm_pwned")
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pth: refused .*(system|posix)"):
        load_checkpoint(str(path))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(path))
    # and through mmengine's own loader (Runner.load_or_resume / init_cfg use it)
    from mmengine.runner.checkpoint import _load_checkpoint

    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(str(path), map_location="cpu")
    assert not os.path.exists("/tmp/peclr_mm_pwned")


def test_error_messages_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth: checkpoint file not found"):
        load_checkpoint(str(tmp_path / "missing.pth"))
    path = tmp_path / "evil.pth"
    torch.save({"x": _Payload()}, str(path))
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(str(path))
    assert "\n" not in str(info.value)


def test_numpy_payloads_load(tmp_path):
    path = tmp_path / "np.pth"
    obj = {"meta": {"a": np.arange(3.0), "s": np.float32(1.5), "i": np.int64(3), "d": np.dtype("f4")}}
    torch.save(obj, str(path))
    out = load_checkpoint(str(path))
    np.testing.assert_array_equal(out["meta"]["a"], np.arange(3.0))
    assert out["meta"]["s"] == np.float32(1.5) and out["meta"]["i"] == 3


def test_empty_numpy_array_loads(tmp_path):
    # protocol 2 pickles an empty numpy buffer through builtins.bytes (mmpose hand metainfo: sigmas=[])
    path = tmp_path / "empty.pth"
    torch.save({"meta": {"dataset_meta": {"sigmas": np.array([])}}}, str(path))
    out = load_checkpoint(str(path))
    assert out["meta"]["dataset_meta"]["sigmas"].shape == (0,)
