"""The stacked launcher's job configs (studykit.config.sweep_configs): a job that differs from one composed before
only in values is derived from it, and equals the config Hydra composes for it from the files."""

import itertools

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from hydra_plugins.studykit_stacked_launcher.stacked_launcher import task_config
from studykit.config.compose import CONFIGS
from studykit.config.sweep_configs import SweepConfigs
from studykit.run.job_names import register_resolvers

register_resolvers()


def grid(**values: list[str]) -> list[list[str]]:
    """Every combination, as Hydra's basic sweeper orders its jobs: `key=value` lines per job."""
    keys = list(values)
    return [
        [f"{key}={value}" for key, value in zip(keys, combination, strict=True)]
        for combination in itertools.product(*values.values())
    ]


# name -> (the jobs' overrides, how many of them Hydra composes: one per config group choice)
SWEEPS = {
    "seeds": (grid(**{"model.hidden": ["40"], "seed": [str(seed) for seed in range(5)]}), 1),
    "learning rates of a group choice": (grid(optimizer=["sgd"], **{"optimizer.lr": ["0.01", "0.1", "1e-3"]}), 1),
    "strings, nulls and lists": (
        grid(
            model=["convnet"],
            **{"model.act": ["relu", "tanh"], "model.pool_stride": ["null", "2"], "model.channels": ["[4]", "[8,8]"]},
        ),
        1,
    ),
    "groups and values": (grid(**{"model.hidden": ["10", "40"], "optimizer": ["adam", "sgd"], "seed": ["0", "1"]}), 2),
    "a search's trials": (
        [[f"optimizer.lr={lr}", f"+hydra.job.env_set.STUDYKIT_TRIAL={n}"] for n, lr in enumerate(["0.01", "0.5"])],
        1,
    ),
    # Hydra applies a key's two overrides in order: composed by Hydra each time.
    "a key set twice": ([[f"seed={seed}", "model.hidden=10", "model.hidden=20"] for seed in range(2)], 2),
    "a Hydra setting beside": ([[f"seed={seed}", "hydra.job.chdir=false"] for seed in range(3)], 1),
    "cases": (grid(**{"+digits_case": ["a", "f"], "seed": ["0", "1"]}), 2),
}


@pytest.mark.parametrize("sweep", list(SWEEPS))
def test_a_job_derived_from_another_equals_its_config_composed_by_hydra(tmp_path, sweep):
    jobs, compositions = SWEEPS[sweep]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "train", ["hydra/launcher=stacked", f"hydra.sweep.dir={tmp_path}"], run_mode=RunMode.MULTIRUN
        )
        configs = SweepConfigs(loader)
        composed_by_hydra, composed = configs.compose, []

        def compose(master_config, overrides):
            composed.append(overrides)
            return composed_by_hydra(master_config, overrides)

        configs.compose = compose
        for overrides in jobs:
            ours = loader.load_sweep_config(master, overrides)
            theirs = composed_by_hydra(master, overrides)
            assert OmegaConf.to_yaml(ours) == OmegaConf.to_yaml(theirs)
            for config in (ours, theirs):  # as the launcher numbers its jobs
                with open_dict(config):
                    config.hydra.job.num = config.hydra.job.id = 0
            assert task_config(ours) == task_config(theirs)  # resolved in the job's dir
            assert configs.take(master, overrides) is ours
    assert len(composed) == compositions
