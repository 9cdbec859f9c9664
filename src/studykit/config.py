"""Turns config nodes into objects; a mistake inside one is reported under its full key (`model.hidden`)."""

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from studykit.classifier import Classifier
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
        if isinstance(cause, (TypeError, ValueError)):
            settings = {key: value for key, value in OmegaConf.to_container(node).items() if not key.startswith("_")}
            raise ConfigError(group, settings, str(cause)) from None
        raise


def build_classifier(cfg: DictConfig) -> tuple[InMemoryDataModule, Classifier]:
    """The data module, and the classifier around the network sized for its data; the resolved `cfg` goes
    into every checkpoint so `eval.py` can rebuild the same run."""
    datamodule = build("data", cfg.data)
    network = build("model", cfg.model, **datamodule.network_inputs)
    optimizer = build("optimizer", cfg.optimizer)
    run_config = OmegaConf.to_container(cfg, resolve=True)
    return datamodule, Classifier(network, optimizer, datamodule.class_names, run_config)
