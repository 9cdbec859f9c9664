"""What a user reads in the terminal: a run's own lines only (Lightning's boilerplate and the warnings the design
sets off on purpose stay out unless verbose=true), a summary naming the run dir, and a sweep's table of runs."""

import logging
import os
import re
import warnings

import pytest

from conftest import run_script, train_in_process
from studykit.run.quiet import quiet_lightning

RUN_LINES = (
    r"mlp \(3,010 parameters\) on digits \(1077 train, 360 val, 360 test\), 1 torch thread\(s\); run dir (?P<dir>\S+)",
    r"Epoch [12]/2 34/34 \[=+\] \d+ms - loss: [\d.]+ - acc: [\d.]+ - val_loss: [\d.]+ - val_acc: [\d.]+",
    r"Stopped at trainer\.max_epochs=2; best epoch 2 \(val/loss [\d.]+\)",
    r"Testing: train 2/2 \[=+\], val 1/1 \[=+\], test 1/1 \[=+\]",
    r"val_acc [\d.]+, test_acc [\d.]+, test_loss [\d.]+ \(best epoch 2 of 2, [\d.]+ s of training\); "
    r"results in (?P<dir>\S+)",
)


@pytest.mark.parametrize("slurm_client", [False, True], ids=["", "on a machine with srun"])
def test_a_run_prints_its_own_lines_only(tmp_path, slurm_client):
    env = None
    if slurm_client:  # SLURM's client on the PATH, as on a cluster's login node (Lightning looks for srun there)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / "srun").chmod(0o755)
        env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = run_script("train.py", "trainer.max_epochs=2", log_dir=tmp_path, progress=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = (result.stdout + result.stderr).splitlines()
    kinds = [next((pattern for pattern in RUN_LINES if re.fullmatch(pattern, line)), line) for line in lines]
    assert kinds == [RUN_LINES[0], RUN_LINES[1], RUN_LINES[1], *RUN_LINES[2:]]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert lines[0].endswith(f"run dir {run_dir}") and lines[-1].endswith(f"results in {run_dir}")
    # which training step ran goes to the run's log, not the terminal
    assert "training step: the MLP's gradients written out" in (run_dir / "train.log").read_text()


def test_verbose_brings_lightning_lines_back(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with pytest.warns(UserWarning, match="`dataloader_iter` step flavor"):
        train_in_process(tmp_path / "run", "trainer.max_epochs=1", "verbose=true")
    lightning = [record.getMessage() for record in caplog.records if record.name.startswith("lightning.")]
    assert any(message.startswith("GPU available: False") for message in lightning)
    assert any(message.startswith("Restoring states from the checkpoint path") for message in lightning)


def test_quiet_keeps_other_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning(verbose=False)
        warnings.warn("Found `dataloader_iter` argument in the `training_step`. Note ...", stacklevel=1)
        warnings.warn("a real problem", stacklevel=1)
    assert [str(warning.message) for warning in caught] == ["a real problem"]


def test_a_sweep_ends_with_its_table_the_best_and_the_report(grid_sweep, grid_terminal):
    lines = grid_terminal.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("job ")))
    header, *rows = lines[start : start + 5]
    columns = ["job", "model.hidden", "model.act", "val_acc", "test_acc", "train_seconds", "status", "best"]
    assert header.split() == columns
    assert sorted(row.split()[0] for row in rows) == ["0", "1", "2", "3"]
    assert rows[0].split()[-2:] == ["finished", "yes"] and all(row.split()[-1] == "finished" for row in rows[1:])
    best_job = rows[0].split()[0]
    assert lines[start + 5].startswith(f"4 runs, 0 not finished. Best by validation accuracy: job {best_job} (")
    assert lines[start + 6] == f"report: {grid_sweep / 'report.md'}"
    assert not any("GPU available" in line or "Tip:" in line for line in lines)


def test_train_log_holds_the_lines_the_terminal_showed(tmp_path):
    result = run_script(
        "train.py", "trainer.max_epochs=2", f"hydra.run.dir={tmp_path / 'run'}", log_dir=tmp_path, progress=True
    )
    assert result.returncode == 0
    shown = [line for line in result.stdout.splitlines() if line]
    logged = [line.split(" - ", 1)[1] for line in (tmp_path / "run" / "train.log").read_text().splitlines()]
    assert [line for line in shown if line.startswith(("Epoch ", "Stopped", "Testing"))] == [
        line for line in logged if line.startswith(("Epoch ", "Stopped", "Testing"))
    ]
    assert shown[-1] in logged and len([line for line in logged if line.startswith("Epoch ")]) == 2
