"""What a finished run leaves for people and tools: metrics.json, and the HParams entry in TensorBoard."""

import platform

import torch
from lightning import Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from torch import nn

from studykit.results import METRICS

HPARAM_GROUPS = ("data", "model", "optimizer")


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


def hyperparameters(cfg: DictConfig, choices: dict[str, str]) -> dict:
    """The run's settings for TensorBoard's HParams tab: each group's choice and fields, the seed, the limits."""
    params: dict = {"seed": cfg.seed, "max_epochs": cfg.trainer.max_epochs}
    for group in HPARAM_GROUPS:
        fields = OmegaConf.to_container(cfg[group], resolve=True)
        params[group] = choices.get(group)
        for key, value in fields.items():
            if not key.startswith("_") and not key.endswith("_dir"):
                params[f"{group}.{key}"] = str(value) if isinstance(value, (list, dict)) else value
    if "early_stopping" in cfg.callbacks:
        params["patience"] = cfg.callbacks.early_stopping.patience
    return params


def log_hparams(trainer: Trainer, params: dict, summary: dict) -> None:
    metrics = {f"final/{key}": value for key, value in summary.items() if isinstance(value, (int, float))}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(params, metrics)
            logger.finalize("success")  # flushes and closes the event file (and its writer thread)
