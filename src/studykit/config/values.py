"""Every value of a run's config checked before anything is built, so a bad one is one `ConfigError` line:

- the keys in RULES (what Lightning and torch would take without a word, or fail on with a traceback) against
  what they accept;
- every other key the command line sets against the kind of its default, composed with the same group
  choices (an integer for an integer, true or false for a boolean, ...); KINDS says which.

Keys whose default is null must be in RULES: nothing else says what they accept. Each rule has one home: a key
in RULES is checked here only; the ranges of the other data and model keys are checked where they are used (the
data modules and networks), with the same kind of line."""

import math
import os
from collections.abc import Callable, Iterable

import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from omegaconf import DictConfig, ListConfig, OmegaConf

from studykit.config.compose import CONFIGS, compose_defaults
from studykit.errors import ConfigError, is_int, is_number
from studykit.steps.written_step import STEPS

ABSENT = object()
CORES = os.cpu_count() or 1


def is_list(value, item: Callable[[object], bool]) -> bool:
    return isinstance(value, list | ListConfig) and len(value) > 0 and all(item(entry) for entry in value)


def batches(value) -> bool:
    return (isinstance(value, float) and 0 < value <= 1) or (is_int(value) and value >= 1)


def no_limit_or_at_least_1(value) -> bool:
    return is_int(value) and (value == -1 or value >= 1)


def accelerator_here(value) -> bool:
    available = {"auto": True, "cpu": True, "gpu": torch.cuda.is_available(), "cuda": torch.cuda.is_available()}
    return available.get(value, value == "mps" and torch.backends.mps.is_available())


# key: (accepts the value?, what is accepted)
RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "seed": (lambda v: is_int(v) and 0 <= v < 2**32, "must be an integer in [0, 2**32)"),
    "threads": (
        lambda v: v is None or is_int(v) and 1 <= v <= CORES,
        f"must be null (the thread rule) or an integer from 1 to {CORES} (the cores here)",
    ),
    "ckpt_path": (lambda v: v is None or isinstance(v, str), "must be null or the path of a checkpoint"),
    "verbose": (lambda v: isinstance(v, bool), "must be true or false"),
    "trainer.max_epochs": (no_limit_or_at_least_1, "must be an integer >= 1, or -1 for no limit"),
    "trainer.max_steps": (no_limit_or_at_least_1, "must be an integer >= 1, or -1 for no limit"),
    "trainer.accelerator": (
        accelerator_here,
        "accepted: auto, cpu, gpu or cuda (where a CUDA device is visible), mps (on Apple silicon)",
    ),
    "trainer.min_epochs": (lambda v: is_int(v) and v >= 0, "must be an integer >= 0"),
    "trainer.check_val_every_n_epoch": (
        lambda v: is_int(v) and v == 1,
        "must be 1: history.csv, the checkpoints and early stopping read every epoch's validation",
    ),
    "trainer.limit_train_batches": (batches, "must be a fraction in (0, 1] or a number of batches >= 1"),
    "trainer.limit_val_batches": (batches, "must be a fraction in (0, 1] or a number of batches >= 1"),
    "trainer.limit_test_batches": (batches, "must be a fraction in (0, 1] or a number of batches >= 1"),
    "trainer.num_sanity_val_steps": (lambda v: is_int(v) and v >= -1, "must be an integer >= 0, or -1 for all"),
    "trainer.log_every_n_steps": (lambda v: is_int(v) and v >= 1, "must be an integer >= 1"),
    "trainer.devices": (
        lambda v: v == "auto" or no_limit_or_at_least_1(v) or is_list(v, lambda d: is_int(d) and d >= 0),
        "must be auto, a number of devices >= 1, -1 for all, or a list of device indices",
    ),
    "callbacks.early_stopping.patience": (lambda v: is_int(v) and v >= 0, "must be an integer >= 0"),
    "callbacks.early_stopping.min_delta": (lambda v: is_number(v) and v >= 0, "must be a number >= 0"),
    "callbacks.early_stopping.mode": (lambda v: v in ("min", "max"), "accepted: max, min"),
    "callbacks.model_checkpoint.mode": (lambda v: v in ("min", "max"), "accepted: max, min"),
    "callbacks.model_checkpoint.save_every_seconds": (lambda v: is_number(v) and v >= 0, "must be a number >= 0"),
    "callbacks.progress_bar.redraw_seconds": (lambda v: is_number(v) and v >= 0, "must be a number >= 0"),
    "classifier.batches_per_step": (lambda v: is_int(v) and v >= 1, "must be an integer >= 1"),
    "classifier.gradient_clip_val": (lambda v: v is None or is_number(v) and v > 0, "must be null or a number > 0"),
    "classifier.gradient_clip_algorithm": (lambda v: v in ("norm", "value"), "accepted: norm, value"),
    "classifier.step": (lambda v: v in STEPS, f"accepted: {', '.join(STEPS)}"),
    "optimizer.lr": (lambda v: is_number(v) and 0 < v < math.inf, "must be a number > 0"),
    "optimizer.weight_decay": (lambda v: is_number(v) and v >= 0, "must be a number >= 0"),
    "model.hidden": (
        lambda v: (is_int(v) and v >= 1) or is_list(v, lambda width: is_int(width) and width >= 1),
        "must be an integer >= 1 (every hidden layer's width) or a list of them (one per layer)",
    ),
    "model.pool_stride": (lambda v: v is None or is_int(v) and v >= 1, "must be null (pool_size) or an integer >= 1"),
}

# The kind of a default -> (accepts the value?, what is accepted)
KINDS: dict[type, tuple[Callable[[object], bool], str]] = {
    bool: (lambda v: isinstance(v, bool), "must be true or false"),
    int: (is_int, "must be an integer"),
    float: (is_number, "must be a number"),
    str: (lambda v: isinstance(v, str | int | float), "must be a single value (text or a number)"),
    list: (lambda v: isinstance(v, list | ListConfig), "must be a list"),
    dict: (lambda v: isinstance(v, dict | DictConfig), "must be a mapping of keys to values"),
}


def check_values(cfg: DictConfig, config_name: str, task_overrides: Iterable[str]) -> None:
    """Raises a `ConfigError` for the first bad value of `cfg`, the config `config_name` composed with the
    command line's `task_overrides`: the keys the command line sets first, so that a bad value is named by the
    key it was given to rather than by one that interpolates it."""
    keys, groups = _split(task_overrides)
    defaults = compose_defaults(config_name, tuple(groups)) if any(key not in RULES for key in keys) else None
    for key in dict.fromkeys([*keys, *RULES]):
        value = OmegaConf.select(cfg, key, default=ABSENT)
        rule = RULES.get(key) or KINDS.get(default_kind(defaults, key))
        if value is not ABSENT and rule and not rule[0](value):
            raise ConfigError(key, _plain(value), rule[1])


def default_kind(defaults: DictConfig, key: str) -> type | None:
    """The kind of `key`'s default (an interpolation counts as text); None where there is none to go by (a
    key added with `+`, a null default: RULES covers those)."""
    node = defaults
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node.keys():
            return None
        node = node._get_node(part)
    if node._is_interpolation():
        return str
    if isinstance(node, ListConfig | DictConfig):
        return list if isinstance(node, ListConfig) else dict
    value = node._value()
    return type(value) if type(value) in KINDS else None


def _plain(value):
    return OmegaConf.to_container(value) if isinstance(value, DictConfig | ListConfig) else value


def _split(task_overrides: Iterable[str]) -> tuple[list[str], list[str]]:
    """The keys the command line sets a value of, and its group choices (as overrides)."""
    keys, groups = [], []
    for override in OverridesParser.create().parse_overrides(list(task_overrides)):
        key = override.key_or_group
        if key.startswith("hydra") or override.type == OverrideType.DEL:
            continue
        if (CONFIGS / key.replace(".", "/")).is_dir():
            groups.append(override.input_line)
        elif override.type == OverrideType.CHANGE:
            keys.append(key)
    return keys, groups
