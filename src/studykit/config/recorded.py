"""A run or sweep dir that already holds runs, given a command with other settings: refused before Hydra writes
anything there, naming the keys that differ, so the settings a dir records always describe its results."""

from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, ListConfig, OmegaConf

from studykit.config.compose import compose_run
from studykit.errors import ConfigError
from studykit.outputs.settings import NOT_SETTINGS

# Keys that say where a run reads and writes, or how it shows progress: they may change between commands.
NOT_COMPARED = (*NOT_SETTINGS, "verbose")


def changed_settings(config_name: str, overrides: list[Override], multirun: bool) -> ConfigError | None:
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = [item for item in overrides if item.key_or_group == key and not item.is_sweep_override()]
    directory = given[-1].value() if given else None
    if not isinstance(directory, str) or "${" in directory or not Path(directory).is_dir():
        return None
    settings = [item for item in overrides if not item.key_or_group.startswith("hydra")]
    if not multirun:
        differences = _differences(config_name, Path(directory), [item.input_line for item in settings])
        where = "it holds a run"
    else:
        if any(item.key_or_group in ("hparams_search", "hydra/sweeper") for item in overrides):
            return None  # a search checks its own settings against its study's
        (jobs,) = BasicSweeper.split_arguments(settings, max_batch_size=None)
        differences, where = [], ""
        for number, job in enumerate(jobs):
            job_dir = next((path.parent for path in sorted(Path(directory).glob(f"{number}_*/config.yaml"))), None)
            if job_dir is not None and (differences := _differences(config_name, job_dir, job)):
                where = f"its job {job_dir.name} holds a run"
                break
    if not differences:
        return None
    return ConfigError(
        key,
        directory,
        f"{where} made with other settings ({'; '.join(differences)}); give the same settings to keep or continue "
        "it, or choose another dir",
    )


def _differences(config_name: str, run_dir: Path, overrides: list[str]) -> list[str]:
    """`key: then -> now` for each setting that differs between `run_dir`'s config.yaml and these overrides."""
    recorded = _flat(OmegaConf.load(run_dir / "config.yaml"))
    now = _flat(compose_run(config_name, overrides, run_dir))
    keys = sorted(key for key in recorded.keys() | now.keys() if not _where_or_how(key))
    return [f"{key} {recorded.get(key)} then, {now.get(key)} now" for key in keys if recorded.get(key) != now.get(key)]


def _where_or_how(key: str) -> bool:
    return key.startswith(NOT_COMPARED) or key.endswith(("_dir", "dirpath", "directory", "path", "save_dir"))


def _flat(node, prefix: str = "") -> dict:
    """Dotted keys to plain values; lists whole."""
    if isinstance(node, DictConfig):
        return {key: value for name in node.keys() for key, value in _flat(node[name], f"{prefix}{name}.").items()}
    if isinstance(node, ListConfig):
        return {prefix[:-1]: OmegaConf.to_container(node, resolve=True)}
    return {prefix[:-1]: node}
