"""A sweep's job configs for a launcher that composes them all before it runs any (hydra/launcher=stacked).

Hydra composes every job from the config files, about a fifth of a second each on this project's CPU machine:
longer than a stacked member's whole training. Most jobs of a sweep differ from one composed before only in the
values of the same keys (`seed=3` where it had `seed=2`); such a job's config is that one's with those values
set as Hydra sets them and its overrides recorded as Hydra records them, the same config
(tests/test_sweep_configs.py compares them). Any other job (another config group, a key added or removed, a
dict value, a swept value) is composed by Hydra as usual.
"""

import copy

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
        return self.kept.pop(tuple(sweep_overrides), None) or self.load(master_config, sweep_overrides)

    def load(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        overrides = self.parser.parse_overrides(list(sweep_overrides))
        shape = tuple(self._shape(override) for override in overrides)
        if None in shape or shape not in self.bases:
            config = self.compose(master_config, list(sweep_overrides))
            if None not in shape:  # a copy: the launcher completes each job's own config in place
                self.bases[shape] = (overrides, copy.deepcopy(config))
        else:
            config = self._derived(master_config, overrides, *self.bases[shape])
        self.kept[tuple(sweep_overrides)] = config
        return config

    def _shape(self, override: Override) -> tuple | None:
        """What must match for a job to be derived from another: the key, how it is set, and for a config group,
        a dict or a swept value, the value itself; None for an override Hydra alone should apply."""
        if override.is_sweep_override():
            return None
        value = override.value()
        settable = override.type in (OverrideType.CHANGE, OverrideType.ADD) and override.package is None
        if settable and not isinstance(value, dict) and not self.group_exists(override.key_or_group):
            return (override.key_or_group, override.type)
        return (override.key_or_group, override.type, override.input_line)

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
