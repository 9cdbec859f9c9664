"""Shared fixtures: the real configs composed with Hydra and shrunk (few epochs, tmp output), real runs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHARED_DATA = ROOT.parent / "shared" / "data"
QUIET = ["callbacks.progress_bar.refresh_rate=0"]

os.environ.setdefault("PROJECT_ROOT", str(ROOT))


def compose_config(config_name: str, overrides: list[str], output_dir: Path):
    """The real config with `overrides`, its Hydra part set up as for a single run writing to `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.mode = RunMode.RUN
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as Hydra hands it to the task function
    return cfg


def train_in_process(output_dir: Path, *overrides: str) -> dict | None:
    from train import train

    return train(compose_config("train", [*QUIET, f"paths.log_dir={output_dir.parent}", *overrides], output_dir))


def run_script(script: str, *args: str, log_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `src/<script>` as a user would, with logs under `log_dir`."""
    environment = os.environ | {"LOG_DIR": str(log_dir), "HYDRA_FULL_ERROR": "0"} | (env or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / script), *QUIET, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """One real run of the default config (digits MLP), few epochs: its run dir."""
    output_dir = tmp_path_factory.mktemp("default") / "run"
    train_in_process(output_dir, "trainer.max_epochs=4")
    return output_dir
