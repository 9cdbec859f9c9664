"""A stacked sweep's parts shared among processes (studykit.stacking.lanes, hydra.launcher.processes): each
process trains its share and writes its jobs' runs, equal to the same sweep in one process; a stop reaches every
process and the same command continues; a second process that dies leaves its jobs to the launcher."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import QUIET, ROOT, outcome, requires_real, run_script
from studykit.stacking.lanes import spread

SIX = ["-m", "seed=range(0,6)", "hydra/launcher=stacked"]
LONG = ["trainer.max_epochs=300", "callbacks.early_stopping.patience=1000", "hydra.launcher.processes=2"]
LONG_RUN_TOLERANCE = 3e-4  # a job trained alone against stacked, over 300 epochs (tests/test_stacked.py)


def test_parts_are_halved_and_shared_by_members():
    assert spread([list(range(20))], 2) == [[list(range(10))], [list(range(10, 20))]]
    assert spread([list(range(20))], 1) == [[list(range(20))]]
    assert spread([[0, 1, 2, 3, 4]], 2) == [[[0, 1, 2, 3, 4]]]  # halves of 2 and 3: not worth a process
    assert spread([list(range(8))], 4) == [[[0, 1, 2, 3]], [[4, 5, 6, 7]]]
    groups = [[case, case + 6, case + 12] for case in range(6)]  # study A: six cases x three seeds
    assert spread(groups, 2) == [[groups[0], groups[2], groups[4]], [groups[1], groups[3], groups[5]]]
    assert spread([list(range(7)), [7, 8]], 2) == [[list(range(7))], [[7, 8]]]


def process_of(job: Path) -> int:
    """The process that wrote a job's run: the pid in its TensorBoard event file's name."""
    (pid,) = {int(events.name.split(".")[-2]) for events in job.glob("events.out.tfevents.*")}
    return pid


def outcomes(sweep: Path) -> dict[str, tuple]:
    """Each job's metrics.json and history.csv without the seconds they took (tests/conftest.py `outcome`)."""
    return {job.name: outcome(job) for job in sorted(sweep.glob("*_seed=*"))}


def test_a_sweep_shared_between_two_processes_equals_it_in_one(tmp_path):
    short = [*SIX, "trainer.max_epochs=8", "callbacks.early_stopping.patience=3"]
    shared = run_script(
        "train.py", *short, "hydra.launcher.processes=2", f"hydra.sweep.dir={tmp_path / 'two'}", log_dir=tmp_path
    )
    assert shared.returncode == 0, (shared.stdout + shared.stderr)[-3000:]
    lines = shared.stdout.splitlines()
    assert "jobs 3, 4, 5 train in process 2 of 2; its lines follow" in lines
    assert "stacking jobs 0, 1, 2: seed 0, 1, 2" in lines and "stacking jobs 3, 4, 5: seed 3, 4, 5" in lines
    started = [int(found) for found in re.findall(r"^\t#(\d+) : ", shared.stdout, re.MULTILINE)]
    assert started == [0, 1, 2, 3, 4, 5]  # the second process's lines shown in one piece, in order
    assert "6 runs, 0 not finished" in shared.stdout
    sweep = tmp_path / "two"
    writers = {job.name: process_of(job) for job in sorted(sweep.glob("*_seed=*"))}
    assert len({writers[f"{seed}_seed={seed}"] for seed in range(3)}) == 1
    assert len({writers[f"{seed}_seed={seed}"] for seed in range(3, 6)}) == 1
    assert writers["0_seed=0"] != writers["3_seed=3"]
    steps = (sweep / "3_seed=3" / "train.log").read_text()
    assert "training step: in a stacked group of 3, the MLPs' gradients written out" in steps

    alone = run_script(
        "train.py",
        *short,
        "hydra.launcher.processes=1",
        "hydra.launcher.max_members=3",
        f"hydra.sweep.dir={tmp_path / 'one'}",
        log_dir=tmp_path,
    )
    assert alone.returncode == 0 and "train in process" not in alone.stdout
    assert len({process_of(job) for job in (tmp_path / "one").glob("*_seed=*")}) == 1
    assert outcomes(sweep) == outcomes(tmp_path / "one")
    assert (sweep / "report.md").read_text().count("finished") == (tmp_path / "one" / "report.md").read_text().count(
        "finished"
    )


def writers_of(sweep: Path) -> list[int]:
    """Processes alive whose command line names `sweep`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(sweep) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def start(sweep: Path, log_dir: Path) -> tuple[subprocess.Popen, Path]:
    output = log_dir / f"output-{time.monotonic_ns()}.txt"
    environment = os.environ | {"LOG_DIR": str(log_dir), "HYDRA_FULL_ERROR": "0", "PYTHONUNBUFFERED": "1"}
    with output.open("w") as written:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "src" / "train.py"), *SIX, *LONG, f"hydra.sweep.dir={sweep}", *QUIET],
            cwd=ROOT,
            env=environment,
            stdout=written,
            stderr=subprocess.STDOUT,
        )
    return process, output


def wait_for(output: Path, text: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while text not in output.read_text():
        assert process.poll() is None, output.read_text()[-3000:]
        assert time.monotonic() < deadline, output.read_text()[-3000:]
        time.sleep(0.001)


def side_process(process: subprocess.Popen) -> int:
    (child,) = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return int(child)


def uninterrupted(tmp_path: Path) -> dict:
    whole = run_script("train.py", *SIX, *LONG, f"hydra.sweep.dir={tmp_path / 'whole'}", log_dir=tmp_path)
    assert whole.returncode == 0 and "train in process 2 of 2" in whole.stdout, whole.stderr[-2000:]
    return outcomes(tmp_path / "whole")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_stop_or_kill_ends_both_processes_and_the_same_command_continues(tmp_path, signum):
    """SIGTERM to the launcher while both processes train: one line, status 143, the second process ends too
    (its own line left out); SIGKILL: the second process dies with it. Either way the same command ends as an
    uninterrupted sweep."""
    sweep = tmp_path / "stopped"
    process, output = start(sweep, tmp_path)
    wait_for(output, "stacking jobs 0, 1, 2", process)
    os.kill(process.pid, signum)
    status = process.wait(timeout=120)
    time.sleep(0.5)
    assert writers_of(sweep) == []
    text = output.read_text()
    assert "Traceback" not in text
    if signum == signal.SIGTERM:
        assert status == 128 + signal.SIGTERM
        (line,) = [line for line in text.splitlines() if line.startswith("error:")]
        assert line == (
            "error: stopped by SIGTERM while jobs 0, 1, 2 trained as one group: run the same command again to continue"
        )
    again = run_script("train.py", *SIX, *LONG, f"hydra.sweep.dir={sweep}", log_dir=tmp_path)
    assert again.returncode == 0 and "6 runs, 0 not finished" in again.stdout, again.stderr[-2000:]
    assert outcomes(sweep) == uninterrupted(tmp_path)


def close_to(ours: dict, theirs: dict, tolerance: float) -> None:
    """The same epochs, best epoch and test accuracy; each epoch's losses and accuracies within `tolerance`,
    relatively (jobs trained alone against stacked: README's whole-run bound)."""
    for (metrics, history), (their_metrics, their_history) in zip(ours.values(), theirs.values(), strict=True):
        assert [metrics[key] for key in ("epochs", "best_epoch", "test_acc")] == [
            their_metrics[key] for key in ("epochs", "best_epoch", "test_acc")
        ]
        for row, their_row in zip(history, their_history, strict=True):
            for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
                assert abs(row[key] - their_row[key]) <= tolerance * max(abs(their_row[key]), 1e-12)


@pytest.mark.slow
def test_a_second_process_that_dies_leaves_its_jobs_to_the_launcher(tmp_path):
    sweep = tmp_path / "sweep"
    process, output = start(sweep, tmp_path)
    wait_for(output, "stacking jobs 0, 1, 2", process)
    os.kill(side_process(process), signal.SIGKILL)
    assert process.wait(timeout=300) == 0, output.read_text()[-3000:]
    text = output.read_text()
    assert "warning: the process of jobs 3-5 ended with status -9 before its results; they run here, one by one" in text
    assert "6 runs, 0 not finished" in text
    close_to(outcomes(sweep), uninterrupted(tmp_path), LONG_RUN_TOLERANCE)


@pytest.mark.slow
@requires_real("mnist")
def test_a_process_forked_after_loading_images_trains_its_share(tmp_path, real_data_dir):
    """The launcher loads a large data set before it forks (the first member sizes the parts) on one thread:
    OpenMP's threads, once started, would leave the forked process waiting forever in its first parallel op."""
    mnist = ["-m", "data=mnist", "model.hidden=32", "trainer.max_epochs=1", "seed=range(0,6)", "hydra/launcher=stacked"]
    result = run_script(
        "train.py",
        *mnist,
        "hydra.launcher.processes=2",
        log_dir=tmp_path,
        env={"DATA_DIR": str(real_data_dir)},
        timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "jobs 3, 4, 5 train in process 2 of 2" in result.stdout and "6 runs, 0 not finished" in result.stdout
