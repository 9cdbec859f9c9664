"""Every config in configs/ composes, and resolves to objects that can be built."""

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf

from studykit.compose import CONFIGS, compose_run

GROUPS = ["data", "model", "optimizer", "trainer", "logger", "callbacks", "experiment"]
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONFIGS / group).glob("*.yaml"))]


def resolve_all_but_hydra(cfg):
    """Resolve every interpolation outside the `hydra` node (which only Hydra's own run resolves)."""
    for key, value in cfg.items():
        if key != "hydra" and OmegaConf.is_config(value):
            OmegaConf.to_container(value, resolve=True, throw_on_missing=True)


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_resolves(group, option, tmp_path):
    cfg = compose_run("train", [f"{group}={option}"], tmp_path)
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
