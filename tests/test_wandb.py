"""`logger=wandb`: each run one offline W&B run in its run dir (nothing leaves the machine), read back from the
run's transaction log as `wandb sync` would upload it: its settings, per-epoch curves, results, confusion images
and exit status; without W&B installed, one line before anything runs."""

import json
import struct
import sys
from pathlib import Path

import pytest

from conftest import read_json, run_script
from studykit.config.build import build_trainer
from studykit.config.compose import compose_run
from studykit.errors import ConfigError
from studykit.outputs.metrics import read_history

BLOCK, HEADER = 32768, 7  # W&B's log: LevelDB's record format after a 7-byte header


def records(run: Path) -> dict[str, list]:
    """The protobuf records of an offline run's `run-*.wandb` file, by kind (`history`, `config`, `exit`...)."""
    from wandb.proto import wandb_internal_pb2

    (log,) = run.glob("run-*.wandb")
    raw, position, found, pending = log.read_bytes(), HEADER, {}, b""
    assert raw.startswith(b":W&B")
    while position + HEADER <= len(raw):
        if BLOCK - position % BLOCK < HEADER:  # a block's tail too short for a record header is padding
            position += BLOCK - position % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", raw[position : position + HEADER])
        data, position = raw[position + HEADER : position + HEADER + length], position + HEADER + length
        if kind in (1, 2):  # a whole record, or its first part
            pending = data
        else:  # its middle or last part
            pending += data
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.setdefault(record.WhichOneof("record_type"), []).append(record)
    return found


def items(updates) -> dict:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in updates}


@pytest.mark.slow
def test_each_job_of_a_sweep_is_one_offline_wandb_run_in_its_dir(tmp_path):
    sweep = tmp_path / "sweep"
    grid = ["-m", "model.hidden=10,40", "logger=[tensorboard,wandb]", "trainer.max_epochs=3"]
    result = run_script("train.py", *grid, f"hydra.sweep.dir={sweep}", log_dir=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "wandb:" not in result.stdout + result.stderr  # W&B's own summary block stays out
    for job in sorted(path.parent for path in sweep.glob("*/metrics.json")):
        (run,) = (job / "wandb").glob("offline-run-*")
        found = records(run)
        assert found["run"][0].run.display_name == job.name
        config = items(update for record in found["config"] for update in record.config.update)
        assert config["model.hidden"] == job.name.split("=")[1] and config["optimizer"] == "adam"
        curve = [
            row["by_epoch/val_loss"]
            for row in map(items, (r.history.item for r in found["history"]))
            if "by_epoch/val_loss" in row
        ]
        assert curve == [float(row["val_loss"]) for row in read_history(job / "history.csv")]
        summary = items(update for record in found["summary"] for update in record.summary.update)
        written = read_json(job / "metrics.json")
        assert summary["test_acc"] == written["test_acc"] and summary["epochs"] == written["epochs"]
        assert found["exit"][0].exit.exit_code == 0
        images = sorted(
            path.name.split("_")[0] for path in (run / "files" / "media" / "images" / "confusion").iterdir()
        )
        assert images == ["test", "train", "val"]


@pytest.mark.slow
def test_a_failed_run_ends_its_wandb_run_as_failed(tmp_path):
    diverging = ["logger=wandb", "optimizer=sgd", "optimizer.lr=1e9", f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_script("train.py", *diverging, log_dir=tmp_path)
    assert result.returncode == 2
    (run,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    found = records(run)
    assert found["exit"][0].exit.exit_code == 1
    assert items(found["config"][0].config.update)["optimizer.lr"] == 1e9


def test_without_wandb_installed_the_logger_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if the extra were not installed: importing it fails
    cfg = compose_run("train", ["logger=wandb", f"paths.log_dir={tmp_path}"], tmp_path / "run")
    with pytest.raises(ConfigError) as error:
        build_trainer(cfg)
    assert str(error.value) == "logger.wandb.offline=true is invalid: W&B is not installed: pip install -e '.[wandb]'"
