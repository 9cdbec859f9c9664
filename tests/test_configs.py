"""Every config in configs/ composes, and resolves to objects that can be built."""

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import run_script
from studykit.config.compose import CONFIGS, compose_run

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


def test_the_slurm_launcher_config_is_the_plugins_own_schema():
    """Its keys are those of hydra-submitit-launcher's SlurmQueueConf: a key the plugin does not know is refused
    when the config is composed, before anything is submitted, and the plugin's launcher is what it builds."""
    from hydra.errors import ConfigCompositionException

    def launcher_node(*overrides):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            return compose("train", ["hydra/launcher=slurm", *overrides], return_hydra_config=True).hydra.launcher

    launcher = launcher_node("hydra.launcher.partition=gpu")
    assert OmegaConf.get_type(launcher).__name__ == "SlurmQueueConf"
    assert (launcher.partition, launcher.gpus_per_node, launcher.mem_gb, launcher.timeout_min) == ("gpu", 1, 32, 240)
    plugin = instantiate(launcher)
    assert type(plugin).__module__ == "hydra_plugins.studykit_slurm_launcher.slurm_launcher"
    assert plugin.params["partition"] == "gpu"
    with pytest.raises(ConfigCompositionException, match="partiton"):
        launcher_node("hydra.launcher.partiton=gpu")


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        (
            ["hydra.launcher.timeout_min=0"],
            "error: hydra.launcher.timeout_min=0 is invalid: a job's time limit in minutes, an integer >= 1",
        ),
        (
            ["trainer=ddp", "trainer.devices=2"],
            "error: hydra.launcher.tasks_per_node=1 is invalid: SLURM starts one task per rank of a job: set it to "
            "trainer.devices (2)",
        ),
    ],
)
def test_slurm_resources_a_job_cannot_run_with_are_one_line_before_anything_is_submitted(tmp_path, setting, line):
    sweep = tmp_path / "sweep"
    result = run_script(
        "train.py",
        "-m",
        "model.hidden=10,40",
        "hydra/launcher=slurm",
        *setting,
        f"hydra.sweep.dir={sweep}",
        log_dir=tmp_path,
    )
    assert result.returncode == 2
    assert [text for text in result.stderr.splitlines() if text.startswith("error:")] == [line]
    assert not (sweep / ".submitit").exists()
