"""Shared fixtures: the real configs composed with Hydra and shrunk (few epochs, tmp output), real runs."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from studykit.config.compose import PROJECT_ROOT, compose_run
from studykit.outputs.metrics import read_history

ROOT = PROJECT_ROOT
SHARED_DATA = ROOT.parent / "shared" / "data"
QUIET = ["callbacks.progress_bar.enabled=false"]


def train_in_process(output_dir: Path, *overrides: str) -> dict | None:
    from train import train

    return train(compose_run("train", [*QUIET, f"paths.log_dir={output_dir.parent}", *overrides], output_dir))


def run_script(
    script: str, *args: str, log_dir: Path, env: dict | None = None, timeout: float = 600, progress: bool = False
) -> subprocess.CompletedProcess:
    """Run `src/<script>` as a user would, with logs under `log_dir` (training without a progress bar, unless
    `progress`)."""
    environment = os.environ | {"LOG_DIR": str(log_dir), "HYDRA_FULL_ERROR": "0"} | (env or {})
    quiet = QUIET if script == "train.py" and not progress else []
    return subprocess.run(
        [sys.executable, str(ROOT / "src" / script), *args, *quiet],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def outcome(run_dir: Path) -> tuple[dict, list[dict]]:
    """What a run must reproduce exactly: metrics.json and history.csv without the seconds they took and
    without the overrides that only say where it wrote."""
    metrics = read_json(run_dir / "metrics.json")
    for key in ("train_seconds", "overrides"):
        metrics.pop(key)
    return metrics, [
        {key: value for key, value in row.items() if key != "seconds"} for row in read_history(run_dir / "history.csv")
    ]


def run_until(
    *args: str, log_dir: Path, condition: Callable[[str], bool], freeze: bool = False, timeout: float = 180
) -> str:
    """Start `src/train.py args` as a user would (with its progress lines, one per epoch) and SIGKILL it as soon
    as `condition(output so far)` holds (`freeze`: SIGSTOP first, so it dies exactly where it was when the
    condition was seen); its output."""
    return signalled_run(*args, log_dir=log_dir, condition=condition, freeze=freeze, timeout=timeout)[1]


def signalled_run(
    *args: str,
    log_dir: Path,
    condition: Callable[[str], bool],
    signum: int = signal.SIGKILL,
    freeze: bool = False,
    timeout: float = 180,
) -> tuple[int, str]:
    """`run_until` with any signal: its exit status and output."""
    output_path = log_dir / f"output-{time.monotonic_ns()}.txt"
    environment = os.environ | {"LOG_DIR": str(log_dir), "HYDRA_FULL_ERROR": "0"}
    with output_path.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "src" / "train.py"), *args],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while not condition(output_path.read_text()):
            assert process.poll() is None, f"the run ended before the signal:\n{output_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the run never got that far"
            time.sleep(0.0005)
        if freeze:
            process.send_signal(signal.SIGSTOP)
        process.send_signal(signum)
        status = process.wait(timeout=120)
    finally:
        process.kill()
    return status, output_path.read_text()


def requires_real(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not (SHARED_DATA / name).is_dir(), reason=f"the real {name} copy is not in {SHARED_DATA}")


@pytest.fixture(scope="session")
def grid_sweep(tmp_path_factory) -> Path:
    """A real 2 x 2 multirun from the command line (hidden 10,40 x act relu,tanh; 3 epochs): its sweep dir."""
    log_dir = tmp_path_factory.mktemp("grid")
    arguments = ["-m", "model.hidden=10,40", "model.act=relu,tanh", "trainer.max_epochs=3"]
    result = run_script("train.py", *arguments, log_dir=log_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    (log_dir / "terminal.txt").write_text(result.stdout + result.stderr)
    (sweep,) = (log_dir / "multirun").iterdir()
    return sweep


@pytest.fixture(scope="session")
def grid_terminal(grid_sweep) -> str:
    """What the grid sweep printed (stdout and stderr)."""
    return (grid_sweep.parent.parent / "terminal.txt").read_text()


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """One real run of the default config (digits MLP), few epochs: its run dir."""
    output_dir = tmp_path_factory.mktemp("default") / "run"
    train_in_process(output_dir, "trainer.max_epochs=4")
    return output_dir


@pytest.fixture(scope="session")
def real_data_dir(tmp_path_factory) -> Path:
    """A data dir laid out as the project's data/ (`<dataset>/<official files>`), linking the real copies in
    ../shared/data, with room for the processed caches; CIFAR-10 comes from `real_cifar10_dir`."""
    data_dir = tmp_path_factory.mktemp("data")
    for name in ("mnist", "imdb", "optdigits"):
        if (SHARED_DATA / name).is_dir():
            (data_dir / name).mkdir()
            for file in (SHARED_DATA / name).iterdir():
                (data_dir / name / file.name).symlink_to(file)
    return data_dir


@pytest.fixture(scope="session")
def real_cifar10_dir(real_data_dir) -> Path:
    """`real_data_dir` with CIFAR-10's official batches, written by ../shared/data/cifar10/build.py (about 20 s)."""
    build = SHARED_DATA / "cifar10" / "build.py"
    subprocess.run([sys.executable, str(build), str(real_data_dir / "cifar10")], check=True, capture_output=True)
    return real_data_dir


def macro_f1(counts: list[list[int]]) -> float:
    """From `[true, predicted]` counts: each class's 2 TP / (2 TP + FP + FN), averaged over the classes."""
    scores = []
    for i, row in enumerate(counts):
        true_positives, column = row[i], sum(other[i] for other in counts)
        scores.append(2 * true_positives / (sum(row) + column) if sum(row) + column else 0.0)
    return sum(scores) / len(scores)
