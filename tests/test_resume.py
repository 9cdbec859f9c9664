"""Ctrl-C keeps the last checkpoint; `ckpt_path=` resumes from it and finishes the planned epochs."""

import csv
import os
import signal
import subprocess
import sys
import time

import torch

from conftest import QUIET, ROOT, read_json, run_script


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the training run did not get that far"
        time.sleep(0.2)


def test_interrupt_then_resume(tmp_path):
    first_logs, second_logs = tmp_path / "first", tmp_path / "second"
    command = [sys.executable, str(ROOT / "src" / "train.py"), *QUIET, "trainer.max_epochs=100000"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=os.environ | {"LOG_DIR": str(first_logs)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(list(first_logs.glob("runs/*/checkpoints/last.ckpt"))) == 1, 120)
        (last,) = first_logs.glob("runs/*/checkpoints/last.ckpt")
        wait_for(lambda: torch.load(last, weights_only=True)["epoch"] >= 2, 120)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) != 0
    finally:
        process.kill()
    run_dir = last.parents[1]
    assert not (run_dir / "metrics.json").exists()
    interrupted_at = torch.load(last, weights_only=True)["epoch"] + 1  # completed epochs, intact file

    result = run_script(
        "train.py", f"ckpt_path={last}", f"trainer.max_epochs={interrupted_at + 3}", log_dir=second_logs
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (resumed,) = second_logs.glob("runs/*")
    assert read_json(resumed / "metrics.json")["epochs"] == interrupted_at + 3
    with (resumed / "history.csv").open() as file:
        epochs = [int(row["epoch"]) for row in csv.DictReader(file)]
    assert epochs == [interrupted_at + 1, interrupted_at + 2, interrupted_at + 3]
