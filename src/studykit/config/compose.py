"""The project's configs composed outside a Hydra app (tests, benchmarks, notebooks, the checks made before a run)."""

import functools
import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

PROJECT_ROOT = Path(os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[3])))
CONFIGS = PROJECT_ROOT / "configs"


def compose_run(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """The config `config_name` with `overrides`, as Hydra hands it to a single run writing to `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.mode = RunMode.RUN
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@functools.cache
def compose_defaults(config_name: str, overrides: tuple[str, ...]) -> DictConfig:
    """The config with these few overrides (group choices, paths), each other key at its default; in a running
    Hydra app through its search path, elsewhere (before a run starts, tests) through the project's configs."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


@functools.cache
def compose_hydra(config_name: str, overrides: tuple[str, ...]) -> DictConfig:
    """The `hydra` node of the config with these overrides (its mode, sweeper and params), before a run starts."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name, overrides=list(overrides), return_hydra_config=True).hydra
