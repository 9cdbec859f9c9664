"""The settings that tell runs apart (the HParams row, the report's columns) and what a run is called there."""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

USUAL = ("optimizer.lr", "data.batch_size", "seed")  # besides the data, model and optimizer chosen
# Overrides that say where or how a run was made rather than which variant it is.
NOT_SETTINGS = ("hydra.", "paths.", "callbacks.progress_bar.", "ckpt_path", "threads", "report", "logger", "metrics")


def names_a_place(key: str) -> bool:
    """A config key naming where a run reads or writes files (`data.data_dir`, `callbacks.epoch_history.path`)."""
    return key.endswith(("_dir", "dirpath", "directory", "path"))


def settings(cfg: DictConfig, choices: dict, overrides: list[str]) -> dict:
    """The run's settings for comparing runs: the usual ones, and every setting its command line changed.
    Whole numbers as text, so that TensorBoard shows `40` rather than `40.000` (and filters them as choices)."""
    values: dict = {group: choices.get(group) for group in ("data", "model", "optimizer")}
    keys = [*USUAL, *changed(overrides)]
    for key in dict.fromkeys(keys):
        value = choices.get(key) if key in choices else OmegaConf.select(cfg, key)
        values[key] = value if isinstance(value, (bool, float, str)) else str(value)
    return values


def changed(overrides: list[str]) -> list[str]:
    """The keys of the settings a command line changed (not where it wrote or how it ran)."""
    keys = (item.split("=", 1)[0].lstrip("+~") for item in overrides if "=" in item)
    return [key for key in keys if not key.startswith(NOT_SETTINGS)]


def trial_name(run_dir: Path, overrides: list[str], in_sweep: bool) -> str:
    """What TensorBoard's HParams view calls the run: its telling part first (a sweep job's dir name, which
    holds the settings its sweep varies; a single run's changed settings), its dir last to keep it unique."""
    if in_sweep:
        return f"{run_dir.name}  ({run_dir.parent.name})"
    settings = [item.lstrip("+~") for item in overrides if item.split("=", 1)[0].lstrip("+~") in changed(overrides)]
    return f"{','.join(settings) or 'defaults'}  ({run_dir.name})"


def flat_settings(cfg: DictConfig) -> dict:
    """`{"model.hidden": 40, ...}`: every key of `cfg`, resolved, lists as whole values."""

    def flat(node, prefix: str) -> dict:
        if isinstance(node, dict):
            pairs = (flat(child, f"{prefix}{name}.").items() for name, child in node.items())
            return {key: value for items in pairs for key, value in items}
        return {prefix[:-1]: node}

    return flat(OmegaConf.to_container(cfg, resolve=True), "")
