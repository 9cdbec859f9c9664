"""Shared fixtures: the real configs composed with Hydra and shrunk (few epochs, tmp output), real runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studykit.compose import PROJECT_ROOT, compose_run

ROOT = PROJECT_ROOT
SHARED_DATA = ROOT.parent / "shared" / "data"
QUIET = ["callbacks.progress_bar.refresh_rate=0"]


def train_in_process(output_dir: Path, *overrides: str) -> dict | None:
    from train import train

    return train(compose_run("train", [*QUIET, f"paths.log_dir={output_dir.parent}", *overrides], output_dir))


def run_script(script: str, *args: str, log_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `src/<script>` as a user would, with logs under `log_dir`."""
    environment = os.environ | {"LOG_DIR": str(log_dir), "HYDRA_FULL_ERROR": "0"} | (env or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / script), *args, *QUIET],
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
