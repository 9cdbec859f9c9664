"""The default run trains and tests on digits and leaves its files; same seed, same metrics."""

import csv
import gc

import pytest
import torch

from conftest import read_json, train_in_process
from studykit.run.command_end import run_as_command

SPLIT_KEYS = [f"{split}_{name}" for split in ("train", "val", "test") for name in ("loss", "acc")]


def test_default_run_writes_metrics(default_run):
    metrics = read_json(default_run / "metrics.json")
    assert set(SPLIT_KEYS) <= metrics.keys()
    assert metrics["epochs"] == 4
    assert 1 <= metrics["best_epoch"] <= 4
    assert metrics["params"] == 64 * 40 + 40 + 40 * 10 + 10
    assert metrics["train_seconds"] > 0
    assert metrics["overrides"] == [
        "callbacks.progress_bar.enabled=false",
        f"paths.log_dir={default_run.parent}",
        "trainer.max_epochs=4",
    ]
    assert all(0 <= metrics[f"{split}_acc"] <= 1 for split in ("train", "val", "test"))
    # 4 epochs of Adam on standardized digits already classify most of them.
    assert metrics["val_acc"] > 0.7 and metrics["test_acc"] > 0.7


def test_history_has_one_row_per_epoch(default_run):
    with (default_run / "history.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4]
    seconds = [float(row["seconds"]) for row in rows]
    assert seconds == sorted(seconds) and seconds[0] > 0
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])


def test_checkpoints_best_and_last(default_run):
    metrics = read_json(default_run / "metrics.json")
    best = torch.load(default_run / "checkpoints" / "best.ckpt", weights_only=True)
    last = torch.load(default_run / "checkpoints" / "last.ckpt", weights_only=True)
    assert best["epoch"] + 1 == metrics["best_epoch"]
    assert last["epoch"] == 4  # saved when fitting ended: 4 epochs done (Lightning counts them from 0 before)
    assert last["callbacks"]["PeriodicCheckpoint"]["best_epoch"] == metrics["best_epoch"]
    assert torch.equal(
        last["callbacks"]["PeriodicCheckpoint"]["best_weights"]["network.layers.1.weight"],
        best["state_dict"]["network.layers.1.weight"],
    )
    assert best["hyper_parameters"]["run_config"]["model"]["hidden"] == 40


def test_resolved_config_and_confusion_files(default_run):
    config_text = (default_run / "config.yaml").read_text()
    assert "${" not in config_text and "max_epochs: 4" in config_text
    for split in ("train", "val", "test"):
        assert (default_run / f"confusion_{split}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    confusion = read_json(default_run / "confusion.json")
    metrics = read_json(default_run / "metrics.json")
    counts = torch.tensor(confusion["counts"]["test"])
    assert counts.sum() == 360
    assert abs(counts.trace() / counts.sum() - metrics["test_acc"]) < 1e-6


def test_same_seed_same_metrics_other_seed_differs(tmp_path):
    runs = {
        name: train_in_process(tmp_path / name, "trainer.max_epochs=2", f"seed={seed}")
        for name, seed in (("a", 3), ("b", 3), ("c", 4))
    }
    for summary in runs.values():
        summary.pop("train_seconds")
        summary.pop("overrides")
    assert runs["a"] == runs["b"]
    assert runs["a"]["val_loss"] != runs["c"]["val_loss"]


def test_early_stopping_restores_best_checkpoint(tmp_path):
    summary = train_in_process(
        tmp_path / "run", "trainer.max_epochs=300", "callbacks.early_stopping.patience=2", "optimizer.lr=0.05"
    )
    assert summary["epochs"] < 300
    assert summary["best_epoch"] == summary["epochs"] - 2
    with (tmp_path / "run" / "history.csv").open() as file:
        val_losses = [float(row["val_loss"]) for row in csv.DictReader(file)]
    assert abs(min(val_losses) - summary["val_loss"]) < 1e-5


def test_a_command_ends_without_walking_what_it_built_however_it_ends():
    """src/train.py and src/eval.py end through run_as_command: the objects alive when main ends are frozen, so
    the interpreter's last garbage collection skips them; a failure's exit status still goes through."""

    def failing_main():
        raise SystemExit(2)

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        with pytest.raises(SystemExit) as ended:
            run_as_command(failing_main)
        assert ended.value.code == 2
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
