"""Every script in scripts/ imports what it uses from the project (a moved name fails here, not in the middle of
`make benchmark`); none runs on import."""

import importlib.util
import subprocess
import sys
import time

import pytest

from conftest import ROOT

SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_the_script_imports(script):
    spec = importlib.util.spec_from_file_location(f"script_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.main)


def test_startup_phases_time_each_step_of_a_run_to_its_first_step():
    result = subprocess.run(
        [sys.executable, "scripts/startup_phases.py", "--launched", f"{time.time():.3f}", "data.batch_size=64"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    phases = dict(reversed(line.split(" ", 1)) for line in result.stdout.splitlines())
    assert list(phases)[0] == "python itself" and list(phases)[-1] == "fit to its first step"
    assert "import lightning (with torchmetrics, torchvision, scipy)" in phases
    assert all(float(seconds) >= 0 for seconds in phases.values())
