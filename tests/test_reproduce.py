"""The studies of ../shared/SEEDS.md on the real data, as `make reproduce` runs them; each asserts the
threshold docs/studies.yaml gives it, and a miss names the figure. Hours on a CPU: `make reproduce`
(`pytest -m reproduce`), never in the default suite.

Runs go to $REPRODUCE_DIR (default logs/reproduce/<experiment>/), where scripts/results_table.py reads them.
Without a GPU the CNN grids get the studies table's `cpu_cuts` (net_1 and net_2 with Adam, few epochs); the
results table shows those overrides in its rows.
"""

import os
import shutil
import statistics
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import ROOT, SHARED_DATA, read_json, run_script
from studykit.outputs.metrics import read_history

pytestmark = pytest.mark.reproduce

REPRODUCE_DIR = Path(os.environ.get("REPRODUCE_DIR", ROOT / "logs" / "reproduce"))
STUDIES = OmegaConf.to_container(OmegaConf.load(ROOT / "docs" / "studies.yaml"))
ON_GPU = torch.cuda.is_available()


@pytest.fixture(scope="module")
def data_dir(real_cifar10_dir) -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the real data copies are not in {SHARED_DATA}")
    return real_cifar10_dir


def reproduce(experiment: str, data_dir: Path, *overrides: str, name: str | None = None) -> list[Path]:
    """Run `experiment` as a multirun into REPRODUCE_DIR/<name or experiment>; the dirs of its runs."""
    sweep_dir = REPRODUCE_DIR / (name or experiment)
    shutil.rmtree(sweep_dir, ignore_errors=True)
    device = ["trainer=gpu"] if ON_GPU else STUDIES[name or experiment].get("cpu_cuts", [])
    arguments = ["-m", f"experiment={experiment}", f"hydra.sweep.dir={sweep_dir}", *device, *overrides]
    result = run_script(
        "train.py", *arguments, log_dir=REPRODUCE_DIR, env={"DATA_DIR": str(data_dir)}, timeout=6 * 3600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [path.parent for path in sorted(sweep_dir.rglob("metrics.json"))]


def metrics(run_dirs: list[Path]) -> list[dict]:
    return [read_json(run_dir / "metrics.json") for run_dir in run_dirs]


def by_override(runs: list[dict], override: str) -> list[dict]:
    return [run for run in runs if override in run["overrides"]]


def reached(name: str, ours: float, threshold: float | None = None) -> None:
    study = STUDIES[name]
    threshold = study["threshold"] if threshold is None else threshold
    assert ours >= threshold, f"{name}: {study['check']}: {ours:.4f} < {threshold} ({study['why']})"


def test_digits_six_cases_pooled_three_seeds(data_dir):
    """Each case's three seeds train as one stacked group (hydra/launcher=stacked)."""
    runs = metrics(reproduce("digits_cases", data_dir, "hydra/launcher=stacked"))
    assert len(runs) == 18
    case_means = [statistics.fmean(r["test_acc"] for r in by_override(runs, f"+digits_case={c}")) for c in "abcdef"]
    reached("digits_cases", statistics.fmean(case_means))


def test_digits_six_cases_official_split(data_dir):
    name = "digits_cases_official"
    runs = metrics(reproduce("digits_cases", data_dir, "data.split=official", "seed=0", name=name))
    assert len(runs) == 6
    reached(name, min(run["test_acc"] for run in runs))


def test_mnist_baseline_follows_the_studys_training_log(data_dir):
    """Study D: our training loss, epoch by epoch, within the tolerance of the study's own log."""
    (run_dir,) = reproduce("mnist_baseline", data_dir)
    assert read_json(run_dir / "metrics.json")["params"] == 7960
    study = STUDIES["mnist_baseline"]
    ours = [float(row["train_loss"]) for row in read_history(run_dir / "history.csv")]
    differences = [abs(mine - theirs) / theirs for mine, theirs in zip(ours, study["log_train_loss"], strict=True)]
    assert max(differences) <= study["threshold"], (
        f"mnist_baseline: {study['check']}: ours {[round(loss, 4) for loss in ours]}, the study's "
        f"{study['log_train_loss']}: {max(differences):.3f} > {study['threshold']} ({study['why']})"
    )


def test_mnist_dense(data_dir):
    runs = metrics(reproduce("mnist_dense", data_dir))
    (relu,), (sigmoid,) = by_override(runs, "model.act=relu"), by_override(runs, "model.act=sigmoid")
    reached("mnist_dense", relu["train_acc"])
    reached("mnist_dense", sigmoid["train_acc"], STUDIES["mnist_dense"]["threshold"] - 0.02)


def test_mnist_cnn(data_dir):
    runs = metrics(reproduce("mnist_cnn", data_dir))
    (net_1,) = by_override(by_override(runs, "model.pooling=max"), "optimizer=adam")
    assert net_1["params"] == 1_625_866
    reached("mnist_cnn", net_1["test_acc"])


def test_cifar10_cnn(data_dir):
    runs = metrics(reproduce("cifar10_cnn", data_dir))
    (net_1,) = by_override(by_override(runs, "model.pooling=max"), "optimizer=adam")
    assert net_1["params"] == 2_117_962
    reached("cifar10_cnn", net_1["test_acc"])


def test_imdb_textcnn(data_dir):
    (run,) = metrics(reproduce("imdb_textcnn", data_dir))
    assert run["params"] == 2_163_605
    reached("imdb_textcnn", run["test_acc"])


def test_imdb_mlp(data_dir):
    (run,) = metrics(reproduce("imdb_mlp", data_dir))
    assert run["params"] == 4_160_501
    reached("imdb_mlp", run["test_acc"])
