"""Which jobs of a sweep can train as one: those whose computation has the same shape. They may differ in their
seed (their split, initial weights and batch order stay their own), their optimizer's hyper-parameters (the
same optimizer class) and their early stopping; anything else (network, data, batch size, split fractions,
trainer) makes another group."""

import json

import torch
from omegaconf import DictConfig

from studykit.outputs.settings import flat_settings, names_a_place

# Default callbacks a member's replay reproduces; a job with others trains alone.
REPLAYED_CALLBACKS = {
    "model_checkpoint",
    "early_stopping",
    "timer",
    "epoch_history",
    "confusion_images",
    "progress_bar",
    "decision_surface",
    "optuna_pruning",  # judged per member as the group trains
}
# What a member may have of its own: which run it is, its optimizer's settings, its early stopping, where it
# writes and how it shows progress.
OWN = ("seed", "data.seed", "optimizer.", "callbacks.early_stopping.", "callbacks.progress_bar.", "paths.", "threads")
OWN_ALSO = ("ckpt_path", "report", "verbose", "callbacks.model_checkpoint.", "classifier.batches_per_step", "logger.")


def group_key(cfg: DictConfig) -> str | None:
    """The settings that shape a job's computation, as text; None for a job that trains alone (see `why_alone`)."""
    if why_alone(cfg):
        return None
    flat = flat_settings(cfg)
    shape = {key: value for key, value in flat.items() if not _own(key)}
    shape["optimizer._target_"] = flat.get("optimizer._target_")
    return json.dumps(shape, sort_keys=True, default=str)


def why_alone(cfg: DictConfig) -> str | None:
    """Why a job cannot be a member of a group (None when it can): what the group's loop does not do as a
    single run would."""
    trainer = cfg.trainer
    if "ddp" in str(trainer.get("strategy", "")) or trainer.get("devices", 1) not in (1, "auto"):
        return "it runs on several devices"
    if _on_a_gpu(str(trainer.get("accelerator", "auto"))) or str(cfg.data.get("device", "auto")) == "cuda":
        return "groups train on the CPU"
    if str(trainer.get("precision", "32-true")) not in ("32", "32-true") or trainer.get("plugins"):
        return "it trains in another precision"
    if trainer.get("max_steps", -1) != -1 or trainer.get("limit_train_batches", 1.0) != 1.0:
        return "trainer.max_steps or limit_train_batches cut its epochs"
    if trainer.get("limit_val_batches", 1.0) != 1.0 or trainer.get("num_sanity_val_steps", 0) != 0:
        return "it validates on part of the data"
    if trainer.get("limit_test_batches", 1.0) != 1.0:
        return "it tests on part of the data"
    if (trainer.get("min_epochs") or 1) > 1:
        return "trainer.min_epochs delays its early stopping"
    callbacks = cfg.get("callbacks") or {}
    stopping, checkpoints = callbacks.get("early_stopping"), callbacks.get("model_checkpoint")
    if not stopping or not checkpoints:
        return "it has no early stopping or checkpoints for the group to follow"
    if stopping.get("stopping_threshold") is not None or stopping.get("divergence_threshold") is not None:
        return "its early stopping has thresholds"
    if (callbacks.get("timer") or {}).get("duration"):
        return "its time limit"
    if cfg.get("classifier", {}).get("gradient_clip_val"):
        return "it clips gradients"
    if cfg.model.get("dropout", 0):
        return "its network draws dropout masks"
    if cfg.get("ckpt_path"):
        return "it continues from a checkpoint"
    if "Circles" in str(cfg.data._target_):
        return "its decision surface is drawn from its weights as it trains"
    extra = set(callbacks.keys()) - REPLAYED_CALLBACKS
    if extra:
        return f"its callbacks {', '.join(sorted(extra))} would not see it train"
    return None


def _on_a_gpu(accelerator: str) -> bool:
    """Whether Lightning would train a single run with this accelerator on a GPU (its default is auto)."""
    return accelerator not in ("cpu", "auto") or (accelerator == "auto" and torch.cuda.is_available())


def stack_groups(keys: dict[int, str | None]) -> list[list[int]]:
    """Job numbers by group, in order of their first job; a job without a key alone."""
    groups: dict[str, list[int]] = {}
    alone = []
    for number, key in keys.items():
        if key is None:
            alone.append([number])
        else:
            groups.setdefault(key, []).append(number)
    return sorted([*groups.values(), *alone], key=lambda group: group[0])


def _own(key: str) -> bool:
    return key.startswith(OWN) or key.startswith(OWN_ALSO) or names_a_place(key)  # a job's own files
