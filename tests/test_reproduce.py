"""The studies of ../shared/SEEDS.md on the real data, as `make reproduce` runs them; each asserts the study's
figure. Hours on a CPU: `make reproduce` (`pytest -m reproduce`), never in the default suite.

Runs go to $REPRODUCE_DIR (default logs/reproduce/<experiment>/), where scripts/results_table.py reads them.
Without a GPU the two CNN grids are cut to what a CPU finishes (net_1 and net_2 with Adam, few epochs); the
results table shows those overrides in its rows.
"""

import os
import shutil
import statistics
from pathlib import Path

import pytest
import torch

from conftest import ROOT, SHARED_DATA, read_json, run_script

pytestmark = pytest.mark.reproduce

REPRODUCE_DIR = Path(os.environ.get("REPRODUCE_DIR", ROOT / "logs" / "reproduce"))
ON_GPU = torch.cuda.is_available()
CPU_CUTS = {
    "mnist_cnn": ["optimizer=adam", "trainer.max_epochs=2"],
    "cifar10_cnn": ["optimizer=adam", "model.pooling=max", "trainer.max_epochs=6"],
}


@pytest.fixture(scope="module")
def data_dir(real_cifar10_dir) -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the real data copies are not in {SHARED_DATA}")
    return real_cifar10_dir


def reproduce(experiment: str, data_dir: Path, *overrides: str, name: str | None = None) -> list[dict]:
    """Run `experiment` as a multirun into REPRODUCE_DIR/<name or experiment>; the metrics.json of each run."""
    sweep_dir = REPRODUCE_DIR / (name or experiment)
    shutil.rmtree(sweep_dir, ignore_errors=True)
    device = ["trainer=gpu"] if ON_GPU else CPU_CUTS.get(experiment, [])
    arguments = ["-m", f"experiment={experiment}", f"hydra.sweep.dir={sweep_dir}", *device, *overrides]
    result = run_script(
        "train.py", *arguments, log_dir=REPRODUCE_DIR, env={"DATA_DIR": str(data_dir)}, timeout=6 * 3600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [read_json(path) for path in sorted(sweep_dir.rglob("metrics.json"))]


def by_override(runs: list[dict], override: str) -> list[dict]:
    return [run for run in runs if override in run["overrides"]]


def test_digits_six_cases_pooled_three_seeds(data_dir):
    runs = reproduce("digits_cases", data_dir)
    assert len(runs) == 18
    case_means = [statistics.fmean(r["test_acc"] for r in by_override(runs, f"+digits_case={c}")) for c in "abcdef"]
    assert statistics.fmean(case_means) >= 0.968


def test_digits_six_cases_official_split(data_dir):
    runs = reproduce("digits_cases", data_dir, "data.split=official", "seed=0", name="digits_cases_official")
    assert len(runs) == 6 and all(run["test_acc"] >= 0.93 for run in runs)


def test_mnist_baseline(data_dir):
    (run,) = reproduce("mnist_baseline", data_dir)
    assert run["params"] == 7960 and run["test_acc"] >= 0.90


def test_mnist_dense(data_dir):
    runs = reproduce("mnist_dense", data_dir)
    (relu,), (sigmoid,) = by_override(runs, "model.act=relu"), by_override(runs, "model.act=sigmoid")
    assert relu["train_acc"] >= 0.95 and sigmoid["train_acc"] >= 0.93


def test_mnist_cnn(data_dir):
    runs = reproduce("mnist_cnn", data_dir)
    (net_1,) = by_override(by_override(runs, "model.pooling=max"), "optimizer=adam")
    assert net_1["params"] == 1_625_866 and net_1["test_acc"] >= 0.99


def test_cifar10_cnn(data_dir):
    runs = reproduce("cifar10_cnn", data_dir)
    (net_1,) = by_override(by_override(runs, "model.pooling=max"), "optimizer=adam")
    assert net_1["params"] == 2_117_962 and net_1["test_acc"] >= 0.65


def test_imdb_textcnn(data_dir):
    (run,) = reproduce("imdb_textcnn", data_dir)
    assert run["params"] == 2_163_605 and run["test_acc"] >= 0.88


def test_imdb_mlp(data_dir):
    (run,) = reproduce("imdb_mlp", data_dir)
    assert run["params"] == 4_160_501 and run["test_acc"] >= 0.86
