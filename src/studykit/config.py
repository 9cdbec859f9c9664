"""Turns config nodes into objects; a mistake inside one is reported under its full key (`model.hidden`)."""

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from torch import nn

from studykit.classifier import Classifier, OptimizerFactory
from studykit.data.in_memory import InMemoryDataModule
from studykit.errors import ConfigError, DataError


def build(group: str, node: DictConfig, **kwargs):
    """`instantiate(node, **kwargs)`, turning the errors of a bad setting into one `ConfigError` for `group`."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ConfigError):
            raise cause.under(group) from None
        if isinstance(cause, DataError):
            raise cause from None
        if isinstance(cause, (TypeError, ValueError, MisconfigurationException)):
            settings = {key: value for key, value in OmegaConf.to_container(node).items() if not key.startswith("_")}
            raise ConfigError(group, settings, str(cause)) from None
        raise


def build_classifier(cfg: DictConfig) -> tuple[InMemoryDataModule, Classifier]:
    """The data module, and the classifier around the network sized for its data; the resolved `cfg` goes
    into every checkpoint so `eval.py` can rebuild the same run."""
    datamodule = build("data", cfg.data)
    check_network_fits_data(cfg.model, datamodule)
    network = build("model", cfg.model, **datamodule.network_sizes)
    optimizer = build("optimizer", cfg.optimizer)
    check_optimizer(optimizer)
    run_config = OmegaConf.to_container(cfg, resolve=True)
    settings = cfg.get("classifier") or {}  # checkpoints of earlier versions have none
    try:
        classifier = Classifier(network, optimizer, datamodule.class_names, run_config, **settings)
    except ConfigError as error:
        raise error.under("classifier") from None
    except TypeError as error:
        raise ConfigError("classifier", OmegaConf.to_container(settings), str(error)) from None
    return datamodule, classifier


def check_optimizer(optimizer: OptimizerFactory) -> None:
    """Build the optimizer once on a dummy tensor, so torch rejects a bad setting (lr < 0, ...) before training."""
    try:
        optimizer([nn.Parameter(torch.zeros(1))])
    except ValueError as error:
        raise ConfigError("optimizer", getattr(optimizer, "keywords", optimizer), str(error)) from None


def check_network_fits_data(model: DictConfig, datamodule: InMemoryDataModule) -> None:
    """Sizes come from the data; what is left to get wrong is a network that cannot read this kind of data
    (a ConvNet on 64 features, an MLP on word ids)."""
    network = get_class(model._target_)
    if datamodule.input_kind not in network.input_kinds:
        raise ConfigError(
            "model",
            network.__name__.lower(),
            f"{network.__name__} reads {' or '.join(network.input_kinds)}, but data gives "
            f"{datamodule.input_kind} of shape {tuple(datamodule.input_shape)}",
        )
