"""Every config in configs/ composes, and resolves to objects that can be built."""

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf

from studykit.compose import CONFIGS, compose_run

GROUPS = ["data", "model", "optimizer", "trainer", "logger", "callbacks", "experiment", "hparams_search", "digits_case"]
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONFIGS / group).glob("*.yaml"))]


def resolve_all_but_hydra(cfg):
    """Resolve every interpolation outside the `hydra` node (which only Hydra's own run resolves)."""
    for key, value in cfg.items():
        if key != "hydra" and OmegaConf.is_config(value):
            OmegaConf.to_container(value, resolve=True, throw_on_missing=True)


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_resolves(group, option, tmp_path):
    prefix = "+" if group == "digits_case" else ""  # not in train.yaml's defaults: added by the experiment
    cfg = compose_run("train", [f"{prefix}{group}={option}"], tmp_path)
    resolve_all_but_hydra(cfg)
    assert HydraConfig.get().runtime.choices[group] == option


def test_eval_config_composes(tmp_path):
    cfg = compose_run("eval", ["ckpt_path=some.ckpt"], tmp_path)
    assert cfg.ckpt_path == "some.ckpt"
    resolve_all_but_hydra(cfg)


@pytest.mark.parametrize("name", sorted(path.stem for path in (CONFIGS / "optimizer").glob("*.yaml")))
def test_every_optimizer_builds_on_parameters(name, tmp_path):
    cfg = compose_run("train", [f"optimizer={name}"], tmp_path)
    optimizer = instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(2))])
    assert optimizer.defaults["lr"] == cfg.optimizer.lr


def test_the_slurm_launcher_takes_its_resources_from_config():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.mem_gb, launcher.timeout_min) == ("gpu", 1, 32, 240)
