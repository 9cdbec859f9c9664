"""What a run reports about itself: its final metrics, hardware and size (metrics.json), and its settings."""

import platform
from pathlib import Path

import torch
from lightning import Trainer
from omegaconf import DictConfig, OmegaConf
from torch import nn

from studykit.results import METRICS, NOT_SETTINGS

USUAL = ("optimizer.lr", "data.batch_size", "seed")  # besides the data, model and optimizer chosen


def final_metrics(trainer: Trainer) -> dict[str, float]:
    """`train_loss`, `train_acc`, ... `test_acc` of the tested checkpoint, from the test stage's metrics."""
    return {metric: float(trainer.callback_metrics[metric.replace("_", "/")]) for metric in METRICS}


def hardware(trainer: Trainer) -> str:
    """What the run trained on, for results tables: the GPU's name, or the CPU's architecture and threads."""
    device = trainer.strategy.root_device
    if device.type == "cuda":
        return f"{trainer.world_size} x {torch.cuda.get_device_name(device)}"
    return f"CPU {platform.machine()}, torch threads: {torch.get_num_threads()}"


def parameter_count(network: nn.Module) -> int:
    return sum(parameter.numel() for parameter in network.parameters())


def settings(cfg: DictConfig, choices: dict, overrides: list[str]) -> dict:
    """The run's settings for comparing runs: the usual ones, and every setting its command line changed.
    Whole numbers as text, so that TensorBoard shows `40` rather than `40.000` (and filters them as choices)."""
    values: dict = {group: choices.get(group) for group in ("data", "model", "optimizer")}
    keys = [*USUAL, *changed(overrides)]
    for key in dict.fromkeys(keys):
        value = choices.get(key) if key in choices else OmegaConf.select(cfg, key)
        values[key] = value if isinstance(value, (bool, float, str)) else str(value)
    return values


def changed(overrides: list[str]) -> list[str]:
    """The keys of the settings a command line changed (not where it wrote or how it ran)."""
    keys = (item.split("=", 1)[0].lstrip("+~") for item in overrides if "=" in item)
    return [key for key in keys if not key.startswith(NOT_SETTINGS)]


def trial_name(run_dir: Path, overrides: list[str], in_sweep: bool) -> str:
    """What TensorBoard's HParams view calls the run: its telling part first (a sweep job's dir name, which
    holds the settings its sweep varies; a single run's changed settings), its dir last to keep it unique."""
    if in_sweep:
        return f"{run_dir.name}  ({run_dir.parent.name})"
    settings = [item.lstrip("+~") for item in overrides if item.split("=", 1)[0].lstrip("+~") in changed(overrides)]
    return f"{','.join(settings) or 'defaults'}  ({run_dir.name})"
