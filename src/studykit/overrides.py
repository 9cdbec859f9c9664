"""Checks the command line's keys against the config before Hydra starts, so a mistyped key (`model.hiden=10`)
stops with one line that names the closest existing key instead of Hydra's "not in struct" report."""

import difflib
import sys

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig

from studykit.compose import CONFIGS
from studykit.errors import ConfigError

_ABSENT = object()


def _is_group(override: Override) -> bool:
    return (CONFIGS / override.key_or_group.replace(".", "/")).is_dir()


def _first_value(override: Override) -> str:
    if override.is_sweep_override():
        return next(iter(override.sweep_string_iterator()))
    return override.get_value_element_as_str()


def unknown_key(config_name: str, args: list[str]) -> ConfigError | None:
    """The first plain `key=value` override whose key is not in the config (as composed with the same group
    choices), as a `ConfigError` that suggests the closest keys; None when all keys exist. Anything Hydra itself
    must judge (syntax, unknown group options, `+`/`~` overrides, `hydra.*`) is left to Hydra."""
    try:
        overrides = OverridesParser.create().parse_overrides([arg for arg in args if not arg.startswith("-")])
    except Exception:  # Hydra reports syntax errors in its own words
        return None
    groups = [override for override in overrides if _is_group(override)]
    choices = [f"{'+' if item.is_add() else ''}{item.key_or_group}={_first_value(item)}" for item in groups]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose(config_name, overrides=choices)
    except Exception:  # e.g. an unknown group option: Hydra lists the available ones
        return None
    finally:
        GlobalHydra.instance().clear()
    for override in overrides:
        key = override.key_or_group
        if override in groups or override.type != OverrideType.CHANGE or key.startswith("hydra"):
            continue
        node, path = cfg, []
        for part in key.split("."):
            if not isinstance(node, DictConfig):
                break
            if part not in node.keys():
                where = ".".join(path) or "the config"
                names = sorted(str(name) for name in node if not str(name).startswith("_"))
                close = difflib.get_close_matches(part, names, n=3, cutoff=0.6)
                hint = f"did you mean {' or '.join(close)}? " if close else f"+{key}=... adds it; "
                value = _first_value(override) if override.is_sweep_override() else override.value()
                return ConfigError(key, value, f"{where} has no key {part!r}; {hint}keys: {', '.join(names)}")
            try:
                node = node[part]
            except Exception:  # an interpolation only a running job can resolve: nothing below it to check
                break
            path.append(part)
    return None


def exit_on_unknown_key(config_name: str) -> None:
    error = unknown_key(config_name, sys.argv[1:])
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
