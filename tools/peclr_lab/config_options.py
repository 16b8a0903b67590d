"""Configs as the upstream tools see them: a config with ``--cfg-options`` merged (:func:`merged_config`), one
value of it (:func:`config_value`) and the options that make an AMP config run in fp32 on a CPU
(:func:`fp32_wrapper_options`). Imports mmengine only when called."""
from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence
from pathlib import Path

_CONFIG_LOCK = threading.Lock()  # mmengine's Config.fromfile is not thread-safe (temporary modules)


def merged_config(config: str | Path, options: Sequence[str] = ()):
    """``config`` with ``options`` (``--cfg-options`` values) merged, as upstream train.py sees it (custom
    imports not run)."""
    from mmengine.config import Config, DictAction

    with _CONFIG_LOCK:
        cfg = Config.fromfile(str(config), import_custom_modules=False)
        if options:
            parser = argparse.ArgumentParser()
            parser.add_argument('--cfg-options', nargs='+', action=DictAction)
            cfg.merge_from_dict(parser.parse_args(['--cfg-options', *map(str, options)]).cfg_options)
    return cfg


def config_value(config: str | Path, options: Sequence[str], key: str):
    """``key`` (dotted, list indices as numbers) of ``config`` with ``options`` merged."""
    value = merged_config(config, options)
    for part in key.split('.'):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def fp32_wrapper_options(config: str | Path) -> list[str]:
    """--cfg-options that rebuild ``config``'s AMP optimizer wrapper as a plain fp32 ``OptimWrapper`` (AMP
    needs a GPU), the optimizer, constructor and accumulation unchanged."""
    wrapper = config_value(config, [], 'optim_wrapper')
    opts = ['optim_wrapper._delete_=True', 'optim_wrapper.type=OptimWrapper']
    for key, value in wrapper.items():
        if key == 'optimizer':
            opts += [f'optim_wrapper.optimizer.{k}={v}' for k, v in value.items()]
        elif key not in ('type', 'dtype', 'loss_scale'):
            opts.append(f'optim_wrapper.{key}={value}')
    return opts
