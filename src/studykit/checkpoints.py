"""Reading checkpoints written by src/train.py safely (tensors and plain data only, nothing executed)."""

import pickle
import zipfile
from pathlib import Path

import torch

from studykit.errors import ConfigError


def read_run_config(path: str) -> dict:
    """The resolved run config stored in a checkpoint by `Classifier`."""
    if not Path(path).is_file():
        raise ConfigError("ckpt_path", path, "no such file; give a .ckpt from a run's checkpoints/ dir")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError) as error:
        raise ConfigError(
            "ckpt_path", path, f"not a readable torch checkpoint ({str(error).splitlines()[0]})"
        ) from None
    run_config = checkpoint.get("hyper_parameters", {}).get("run_config") if isinstance(checkpoint, dict) else None
    if not run_config:
        raise ConfigError("ckpt_path", path, "not a checkpoint written by src/train.py (it holds no run config)")
    return run_config
