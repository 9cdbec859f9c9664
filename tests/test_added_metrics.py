"""`metrics=[f1_macro,auroc]`: metrics beside loss and accuracy, measured per split through torchmetrics, become
columns of history.csv and metrics.json, TensorBoard curves, the HParams row and the sweep report, alike for
runs trained alone and stacked; a metric that cannot be a column is refused in one line before training."""

import csv
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams.metadata import SESSION_START_INFO_TAG, parse_session_start_info_plugin_data

from conftest import macro_f1, read_json, run_script
from studykit.config.build import build_metrics
from studykit.config.compose import PROJECT_ROOT, compose_run
from studykit.outputs.metrics import read_history
from studykit.split_metrics import SplitMetrics, check_one_number

ADDED = ("f1_macro", "auroc")
SWEEP = ["-m", "seed=0,1", "trainer.max_epochs=4", "metrics=[f1_macro,auroc]"]


def hparams_row(run_dir: Path) -> dict:
    (events,) = (run_dir / "hparams").glob("events.out.tfevents.*")
    for event in EventFileLoader(str(events)).Load():
        for value in event.summary.value:
            if value.tag == SESSION_START_INFO_TAG:
                start = parse_session_start_info_plugin_data(value.metadata.plugin_data.content)
                return {name: getattr(item, item.WhichOneof("kind")) for name, item in start.hparams.items()}
    raise AssertionError("no HParams session")


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("added_metrics")
    dirs = {}
    for launcher in ("basic", "stacked"):
        dirs[launcher] = root / launcher
        result = run_script(
            "train.py", *SWEEP, f"hydra/launcher={launcher}", f"hydra.sweep.dir={dirs[launcher]}", log_dir=root
        )
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return dirs


def job_dirs(sweep: Path) -> list[Path]:
    return sorted(path.parent for path in sweep.glob("*/metrics.json"))


@pytest.mark.slow
def test_added_metrics_are_columns_everywhere_a_run_reports(sweeps):
    for run_dir in job_dirs(sweeps["basic"]):
        history = read_history(run_dir / "history.csv")
        assert list(history[0]) == [
            "epoch", "seconds",
            *(f"{split}_{name}" for split in ("train", "val") for name in ("loss", "acc", *ADDED)),
        ]  # fmt: skip
        assert all(0 < row[f"val_{name}"] <= 1 for row in history for name in ADDED)
        metrics = read_json(run_dir / "metrics.json")
        counts = read_json(run_dir / "confusion.json")["counts"]
        for split in ("train", "val", "test"):
            assert metrics[f"{split}_f1_macro"] == pytest.approx(macro_f1(counts[split]), abs=1e-6)
            assert 0.5 < metrics[f"{split}_auroc"] <= 1
        # The best checkpoint's validation numbers, as training measured them at its epoch.
        best = history[metrics["best_epoch"] - 1]
        assert metrics["val_f1_macro"] == pytest.approx(best["val_f1_macro"])
        row = hparams_row(run_dir)
        assert {key: row[key] for key in metrics if key.endswith(ADDED)} == pytest.approx(
            {key: value for key, value in metrics.items() if key.endswith(ADDED)}
        )
        curves = EventAccumulator(str(run_dir)).Reload().Tags()["scalars"]
        assert {f"by_epoch/val_{name}" for name in ADDED} <= set(curves)
        assert [event.value for event in EventAccumulator(str(run_dir)).Reload().Scalars("by_epoch/val_auroc")] == (
            pytest.approx([row["val_auroc"] for row in history])
        )
    with (sweeps["basic"] / "summary.csv").open() as file:
        summary = {row["job"]: row for row in csv.DictReader(file)}
    for run_dir in job_dirs(sweeps["basic"]):
        job = run_dir.name.split("_")[0]
        assert float(summary[job]["test_auroc"]) == pytest.approx(read_json(run_dir / "metrics.json")["test_auroc"])
    assert "test_f1_macro" in (sweeps["basic"] / "report.md").read_text()


@pytest.mark.slow
def test_stacked_members_measure_the_added_metrics_as_their_runs_alone(sweeps):
    for stacked, alone in zip(job_dirs(sweeps["stacked"]), job_dirs(sweeps["basic"]), strict=True):
        rows, alone_rows = read_history(stacked / "history.csv"), read_history(alone / "history.csv")
        for row, alone_row in zip(rows, alone_rows, strict=True):
            for name in ADDED:
                for split in ("train", "val"):
                    assert row[f"{split}_{name}"] == pytest.approx(alone_row[f"{split}_{name}"], rel=1e-5)
        metrics, alone_metrics = read_json(stacked / "metrics.json"), read_json(alone / "metrics.json")
        assert metrics["test_f1_macro"] == pytest.approx(alone_metrics["test_f1_macro"], rel=1e-5)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "+metrics.recall_each={_target_:torchmetrics.classification.MulticlassRecall,average:null}",
            "error: metrics.recall_each={'_target_': 'torchmetrics.classification.MulticlassRecall', 'average': None}"
            " is invalid: it gives more than one number per epoch",
        ),
        ("+metrics.acc={_target_:torchmetrics.classification.MulticlassAccuracy}", "every run measures it already"),
        ("+metrics.same={_target_:torch.nn.Identity}", "is invalid: not a torchmetrics Metric"),
    ],
)
def test_a_metric_that_cannot_be_a_column_is_one_line_before_training(tmp_path, override, expected):
    result = run_script("train.py", override, log_dir=tmp_path)
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert not list(tmp_path.rglob("history.csv"))


@pytest.mark.parametrize("name", sorted(path.stem for path in (PROJECT_ROOT / "configs" / "metrics").glob("*.yaml")))
def test_every_metric_config_builds_one_number_per_split(tmp_path, name):
    cfg = compose_run("train", [f"metrics=[{name}]", f"paths.log_dir={tmp_path}"], tmp_path / "run")
    (metric,) = build_metrics(cfg, num_classes=10).values()
    assert check_one_number(name, metric, 10) is None
    assert list(SplitMetrics(2, {name: build_metrics(cfg, num_classes=2)[name]}).names) == ["loss", "acc", name]
