"""Turns config nodes into objects; a mistake inside one is reported under its full key (`model.hidden`)."""

import math

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from lightning import Trainer
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torchmetrics import Metric

from studykit.classifier import Classifier, OptimizerFactory
from studykit.data.in_memory import InMemoryDataModule
from studykit.errors import ConfigError, DataError
from studykit.models.network import INPUT_KINDS, Network
from studykit.split_metrics import BASE_NAMES, check_one_number


def build(group: str, node: DictConfig, objects: dict | None = None, **kwargs):
    """`instantiate(node, **kwargs)`, turning the errors of a bad setting into one `ConfigError` for `group`.
    `objects`: arguments that are built objects (callbacks, loggers), passed to the target as they are; Hydra
    would merge them into the config first (a third of a stacked member's run start)."""
    try:
        if objects:
            return instantiate(node, _partial_=True, **kwargs)(**objects)
        return instantiate(node, **kwargs)
    except Exception as error:
        cause = error.__cause__ if isinstance(error, InstantiationException) else error
        if isinstance(cause, ConfigError):
            raise cause.under(group) from None
        if isinstance(cause, DataError):
            raise cause from None
        if isinstance(cause, (TypeError, ValueError, MisconfigurationException)):
            settings = {key: value for key, value in OmegaConf.to_container(node).items() if not key.startswith("_")}
            raise ConfigError(group, settings, str(cause)) from None
        raise


def build_trainer(cfg: DictConfig) -> Trainer:
    """The trainer with the callbacks and loggers of `cfg` (each a node of `callbacks:` and `logger:`)."""
    callbacks = [build(f"callbacks.{name}", node) for name, node in (cfg.get("callbacks") or {}).items()]
    loggers = [build(f"logger.{name}", node) for name, node in cfg.logger.items()]
    return build("trainer", cfg.trainer, objects={"callbacks": callbacks, "logger": loggers})


def build_classifier(cfg: DictConfig) -> tuple[InMemoryDataModule, Classifier]:
    """The data module, and the classifier around the network sized for its data; the resolved `cfg` goes
    into every checkpoint so `eval.py` can rebuild the same run."""
    datamodule = build("data", cfg.data)
    check_network_fits_data(cfg.model, datamodule)
    network = build("model", cfg.model, **datamodule.network_sizes)
    optimizer = build("optimizer", cfg.optimizer)
    check_optimizer(optimizer)
    metrics = build_metrics(cfg, len(datamodule.class_names))
    run_config = OmegaConf.to_container(cfg, resolve=True)
    settings = cfg.get("classifier") or {}  # checkpoints of earlier versions have none
    try:
        classifier = Classifier(network, optimizer, datamodule.class_names, run_config, metrics=metrics, **settings)
    except ConfigError as error:
        raise error.under("classifier") from None
    except TypeError as error:
        raise ConfigError("classifier", OmegaConf.to_container(settings), str(error)) from None
    return datamodule, classifier


def build_metrics(cfg: DictConfig, num_classes: int) -> dict[str, Metric]:
    """The metrics of the config's `metrics` group (name -> node), each for the data's classes."""
    metrics = {}
    for name, node in (cfg.get("metrics") or {}).items():
        if name in BASE_NAMES:
            raise ConfigError(f"metrics.{name}", OmegaConf.to_container(node), "every run measures it already")
        metric = build(f"metrics.{name}", node, num_classes=num_classes)
        if not isinstance(metric, Metric):
            raise ConfigError(f"metrics.{name}", OmegaConf.to_container(node), "not a torchmetrics Metric")
        problem = check_one_number(name, metric, num_classes)
        if problem:
            raise ConfigError(f"metrics.{name}", OmegaConf.to_container(node), problem)
        metrics[name] = metric
    return metrics


def check_steps_reach_an_epoch(cfg: DictConfig, train_samples: int) -> None:
    """`trainer.max_steps` that ends fitting inside the first epoch leaves no epoch validated: no history, no best
    checkpoint to test."""
    max_steps, limit = cfg.trainer.max_steps, cfg.trainer.limit_train_batches
    batches = math.ceil(train_samples / cfg.data.batch_size)
    batches = min(batches, limit) if isinstance(limit, int) else max(1, int(batches * limit))
    if 0 < max_steps < batches:
        raise ConfigError(
            "trainer.max_steps",
            max_steps,
            f"it ends the run inside its first epoch ({batches} batches), so no epoch is validated and there is no "
            f"best checkpoint to test; give at least {batches}, or trainer.limit_train_batches for shorter epochs",
        )


def check_optimizer(optimizer: OptimizerFactory) -> None:
    """Build the optimizer once on a dummy tensor, so torch rejects a bad setting (lr < 0, ...) before training."""
    try:
        optimizer([nn.Parameter(torch.zeros(1))])
    except ValueError as error:
        raise ConfigError("optimizer", getattr(optimizer, "keywords", optimizer), str(error)) from None


def check_network_fits_data(model: DictConfig, datamodule: InMemoryDataModule) -> None:
    """Both sides of the contract between data and networks (studykit.models.network): a data module and a
    network of the template's kinds, and a network that can read this kind of data (a ConvNet on 64 features,
    an MLP on word ids cannot). The sizes come from the data."""
    if not isinstance(datamodule, InMemoryDataModule):
        raise ConfigError(
            "data._target_",
            type(datamodule).__name__,
            "a data module must subclass studykit.data.in_memory.InMemoryDataModule",
        )
    network = get_class(model._target_)
    if not (isinstance(network, type) and issubclass(network, Network)) or not network.input_kinds:
        raise ConfigError(
            "model._target_",
            model._target_,
            "a network must subclass studykit.models.network.Network and list the kinds of input it reads in "
            f"input_kinds (of {', '.join(INPUT_KINDS)})",
        )
    if datamodule.input_kind not in network.input_kinds:
        raise ConfigError(
            "model",
            network.__name__.lower(),
            f"{network.__name__} reads {' or '.join(network.input_kinds)}, but data gives "
            f"{datamodule.input_kind} of shape {tuple(datamodule.input_shape)}",
        )
