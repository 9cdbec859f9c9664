"""Reading checkpoints written by src/train.py safely (tensors and plain data only, nothing executed), and
choosing the one a run continues from."""

import logging
import pickle
import zipfile
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from studykit.errors import ConfigError

log = logging.getLogger(__name__)


def resume_path(ckpt_path: str | None, output_dir: Path, cfg: DictConfig) -> str | None:
    """The checkpoint fitting continues from. `ckpt_path=<file>`: that file, if it was written by a run of the
    same model on the same data. `ckpt_path=last`, or none given while the run dir already holds
    `checkpoints/last.ckpt` (a killed run or sweep re-launched into its own dir): that file."""
    last = output_dir / "checkpoints" / "last.ckpt"
    if ckpt_path == "last" and not last.is_file():
        raise ConfigError(
            "ckpt_path",
            "last",
            f"{last} does not exist; add hydra.run.dir=<run dir> (or hydra.sweep.dir=<sweep "
            "dir> with -m) to continue that run in its own dir, or give the checkpoint file",
        )
    if ckpt_path in (None, "last"):
        if not last.is_file():
            return None
        try:
            read_run_config(str(last))
        except ConfigError as error:
            if ckpt_path == "last":  # asked for by name: say so rather than start over
                raise ConfigError(
                    "ckpt_path", "last", f"{last} is {error.accepted}; delete it to train this run from the start"
                ) from None
            set_aside = last.with_name(f"{last.name}.unreadable")
            last.replace(set_aside)
            clear_previous_attempt(output_dir)
            log.warning(f"warning: {last} is {error.accepted}; training this run from the start (kept as {set_aside})")
            return None
        return str(last)
    stored = read_run_config(ckpt_path)
    for group in ("model", "data"):
        before, now = _settings(stored[group]), _settings(OmegaConf.to_container(cfg[group], resolve=True))
        if before["_target_"] != now["_target_"] or (group == "model" and before != now):
            changed = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
            raise ConfigError(
                "ckpt_path", ckpt_path, f"it was written for other {group} settings ({', '.join(changed)} differ)"
            )
    return ckpt_path


def _settings(group: dict) -> dict:
    """A config group's settings without its folders (data may move between runs)."""
    return {key: value for key, value in group.items() if not key.endswith("_dir")}


def read_run_config(path: str) -> dict:
    """The resolved run config stored in a checkpoint by `Classifier`."""
    if Path(path).is_dir():
        raise ConfigError("ckpt_path", path, "is a folder; give a .ckpt file from a run's checkpoints/ dir")
    if not Path(path).is_file():
        raise ConfigError("ckpt_path", path, "no such file; give a .ckpt from a run's checkpoints/ dir")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError):
        # torch's own messages suggest weights_only=False, which would run whatever a pickle names: not here.
        raise ConfigError(
            "ckpt_path", path, "not a readable torch checkpoint (truncated, damaged, or another kind of file)"
        ) from None
    run_config = checkpoint.get("hyper_parameters", {}).get("run_config") if isinstance(checkpoint, dict) else None
    if not run_config:
        raise ConfigError("ckpt_path", path, "not a checkpoint written by src/train.py (it holds no run config)")
    return run_config


def clear_previous_attempt(run_dir: Path) -> None:
    """Before a killed run continues in its own dir: its TensorBoard events go, and the run writes them again
    from the checkpoint's history (an attempt may have logged epochs past its last checkpoint)."""
    for events in run_dir.glob("events.out.tfevents.*"):
        events.unlink()
