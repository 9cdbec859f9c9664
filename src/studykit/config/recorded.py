"""A run or sweep dir that already holds runs, given a command with other settings: refused before Hydra writes
anything there, naming the keys that differ, so the settings a dir records always describe its results."""

from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from studykit.config.compose import CONFIGS, compose_hydra, compose_run
from studykit.errors import ConfigError
from studykit.outputs.settings import NOT_SETTINGS, flat_settings, names_a_place

# Keys that say where a run reads and writes, or how it shows progress: they may change between commands.
NOT_COMPARED = (*NOT_SETTINGS, "verbose")


def changed_settings(config_name: str, overrides: list[Override], args: list[str]) -> ConfigError | None:
    """For a command that names a run dir (or a sweep dir) holding runs: the first run whose recorded settings
    differ from the command's, as a `ConfigError`; a sweep's jobs are listed as Hydra's basic sweeper lists them
    (the sweeper's params from the config, then the command line's sweeps)."""
    hydra_cfg = _hydra_config(config_name, overrides)
    multirun = "-m" in args or "--multirun" in args or (hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = [item for item in overrides if item.key_or_group == key and not item.is_sweep_override()]
    directory = given[-1].value() if given else None
    if not isinstance(directory, str) or "${" in directory or not Path(directory).is_dir():
        return None
    settings = [item.input_line for item in overrides if not item.key_or_group.startswith("hydra")]
    if not multirun:
        differences = _differences(config_name, Path(directory), settings)
        where = "it holds a run"
    else:
        if hydra_cfg is None or not str(hydra_cfg.sweeper._target_).endswith("BasicSweeper"):
            return None  # a search checks its own settings against its study's
        params = [f"{name}={value}" for name, value in (hydra_cfg.sweeper.get("params") or {}).items()]
        (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(params + settings), None)
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


def _hydra_config(config_name: str, overrides: list[Override]) -> DictConfig | None:
    """The `hydra` node as the command's group choices (an experiment, a sweeper) make it; None if they do not
    compose (Hydra says why when it starts)."""
    choices = [
        item.input_line
        for item in overrides
        if not item.is_sweep_override()
        and ((CONFIGS / item.key_or_group.replace(".", "/")).is_dir() or item.key_or_group.startswith("hydra/"))
    ]
    try:
        return compose_hydra(config_name, tuple(choices))
    except Exception:
        return None


def _differences(config_name: str, run_dir: Path, overrides: list[str]) -> list[str]:
    """`key: then -> now` for each setting that differs between `run_dir`'s config.yaml and these overrides; none
    for a dir without results or a checkpoint to continue (a run that failed before its first save may be run
    again with other settings, e.g. the lower learning rate its failure line asks for)."""
    if not (run_dir / "metrics.json").exists() and not (run_dir / "checkpoints" / "last.ckpt").exists():
        return []
    recorded = flat_settings(OmegaConf.load(run_dir / "config.yaml"))
    now = flat_settings(compose_run(config_name, overrides, run_dir))
    keys = sorted(key for key in recorded.keys() | now.keys() if not _where_or_how(key))
    return [f"{key} {recorded.get(key)} then, {now.get(key)} now" for key in keys if recorded.get(key) != now.get(key)]


def _where_or_how(key: str) -> bool:
    return key.startswith(NOT_COMPARED) or names_a_place(key)
