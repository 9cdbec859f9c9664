"""A sweep's job configs for a launcher that composes them all before it runs any (hydra/launcher=stacked).

Hydra composes every job from the config files, which for a stacked sweep of tiny networks takes longer than
training them. Most jobs of a sweep differ from one composed before only in the values of the same keys
(`seed=3` where it had `seed=2`); such a job's config is that one's with those values set as Hydra sets them
and its overrides recorded as Hydra records them, the same config (tests/test_sweep_configs.py compares them
with Hydra's own). Hydra composes any other job: another config group, a key deleted, a dict value, a swept
value, a Hydra setting other than an environment variable of the job, or two overrides of one key or of a key
and a key inside it (Hydra applies those in order; a config group's choice is not one of them).

This reuses Hydra 1.3's own override code (`ConfigLoaderImpl._apply_overrides_to_config`,
`get_overrides_dirname`), internal to Hydra: the comparison test is what notices if a Hydra release changes it.
"""

import copy
from itertools import pairwise

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict


class SweepConfigs:
    """Takes over `config_loader.load_sweep_config`, so the configs the sweeper composes to check a batch are
    kept for the launcher (`take`) rather than composed twice."""

    def __init__(self, config_loader):
        self.compose = config_loader.load_sweep_config
        self.group_exists = config_loader.repository.group_exists
        self.parser = OverridesParser.create()
        self.kept: dict[tuple, DictConfig] = {}
        self.bases: dict[tuple, tuple[list[Override], DictConfig]] = {}  # shape of a command line -> composed
        config_loader.load_sweep_config = self.load

    def take(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        """The job's config, given once: the launcher completes it in place."""
        if tuple(sweep_overrides) not in self.kept:
            self.load(master_config, sweep_overrides)
        return self.kept.pop(tuple(sweep_overrides))

    def load(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        overrides = self.parser.parse_overrides(list(sweep_overrides))
        environment = set(master_config.hydra.job.env_copy)
        shape = tuple(self._shape(override, environment) for override in overrides)
        if _overlapping([o.key_or_group for o in overrides if not self.group_exists(o.key_or_group)]):
            shape += (None,)
        if None in shape or shape not in self.bases:
            config = self.compose(master_config, list(sweep_overrides))
            if None not in shape:  # a copy: the launcher completes each job's own config in place
                self.bases[shape] = (overrides, copy.deepcopy(config))
        else:
            config = self._derived(master_config, overrides, *self.bases[shape])
        self.kept[tuple(sweep_overrides)] = config
        return config

    def _shape(self, override: Override, environment: set[str]) -> tuple | None:
        """What must match for a job to be derived from another: the key, how it is set, and for a config group,
        a dict, a Hydra setting or a copied environment variable, the value itself; None for a swept value.
        `environment`: the variables Hydra copies into hydra.job.env_set after the overrides."""
        if override.is_sweep_override():
            return None
        key = override.key_or_group
        settable = override.type in (OverrideType.CHANGE, OverrideType.ADD) and override.package is None
        settable &= not isinstance(override.value(), dict) and not self.group_exists(key)
        if override.is_hydra_override():
            variable = key.removeprefix("hydra.job.env_set.")
            settable &= variable != key and "." not in variable and variable not in environment
        return (key, override.type) if settable else (key, override.type, override.input_line)

    def _derived(
        self, master_config: DictConfig, overrides: list[Override], base_overrides: list[Override], base: DictConfig
    ) -> DictConfig:
        config = copy.deepcopy(base)
        for override, before in zip(overrides, base_overrides, strict=True):
            if override.input_line == before.input_line:
                continue
            if override.type == OverrideType.ADD:  # there already, added by the base's own override
                OmegaConf.update(config, override.key_or_group, override.value(), merge=True, force_add=True)
            else:
                ConfigLoaderImpl._apply_overrides_to_config([override], config)
        hydra_lines = list(OmegaConf.to_container(master_config.hydra.overrides.hydra))
        task = [override for override in overrides if not override.is_hydra_override()]
        hydra_lines += [override.input_line for override in overrides if override.is_hydra_override()]
        job = config.hydra.job
        with open_dict(config.hydra):
            config.hydra.overrides.hydra = hydra_lines
            config.hydra.overrides.task = [override.input_line for override in task]
            job.override_dirname = get_overrides_dirname(
                overrides=task,
                kv_sep=job.config.override_dirname.kv_sep,
                item_sep=job.config.override_dirname.item_sep,
                exclude_keys=job.config.override_dirname.exclude_keys,
            )
        OmegaConf.copy_cache(from_config=master_config, to_config=config)
        return config


def _overlapping(keys: list[str]) -> bool:
    """Whether a key repeats, or one is inside another (`model` and `model.hidden`)."""
    return any(after == before or after.startswith(before + ".") for before, after in pairwise(sorted(keys)))
