"""Faults a long study meets, provoked for real: runs killed with signals at chosen moments, a full disk (a small
tmpfs), two processes on one dir, broken files in a re-launched sweep, a read-only log dir. Each ends with one
clear line, loses nothing finished, and the next run of the same command ends where an uninterrupted one does."""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import QUIET, ROOT, outcome, read_json, run_script, run_until, signalled_run, train_in_process
from studykit.outputs.metrics import read_history
from studykit.report.callback import SweepEnd, end_of_sweep
from studykit.run import locks, stopping

# A network big enough that writing its checkpoints takes a moment (so a kill can land inside one), trained on
# small batches with a checkpoint after every epoch, on one thread (results depend on the thread count).
MEDIUM = [
    "model.hidden=600",
    "model.depth=2",
    "data.batch_size=16",
    "threads=1",
    "trainer.max_epochs=5",
    "callbacks.early_stopping.patience=1000",
    "callbacks.model_checkpoint.save_every_seconds=0",
]


def partial_checkpoint(run_dir):
    return lambda _: any((run_dir / "checkpoints").glob(".*.partial"))


@pytest.mark.slow
def test_killed_mid_epoch_while_saving_and_while_testing_a_run_ends_as_if_never_killed(tmp_path):
    reference = tmp_path / "reference"
    train_in_process(reference, *MEDIUM)
    run_dir = tmp_path / "run"
    arguments = [*MEDIUM, f"hydra.run.dir={run_dir}"]

    run_until(*arguments, log_dir=tmp_path, condition=lambda output: "Epoch 2/5" in output)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and not (run_dir / "metrics.json").exists()
    run_until(*arguments, log_dir=tmp_path, condition=partial_checkpoint(run_dir), freeze=True)
    assert list((run_dir / "checkpoints").glob(".*.partial"))  # it died inside a checkpoint write
    run_until(*arguments, log_dir=tmp_path, condition=lambda output: "Stopped at trainer.max_epochs=5" in output)
    assert not (run_dir / "metrics.json").exists()  # it died while testing

    result = run_script("train.py", *arguments, log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "continuing from" in result.stdout + result.stderr
    assert outcome(run_dir) == outcome(reference)
    assert not list(run_dir.rglob(".*.partial"))
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert [event.step for event in events.Scalars("by_epoch/val_loss")] == [1, 2, 3, 4, 5]  # each epoch once


def test_a_resumed_run_continues_the_batch_order_and_random_state(tmp_path):
    """Dropout draws from the global random stream and the batch order from its own generator: both must go on
    where the checkpoint left them, not start again from the seed."""
    settings = ["model.dropout=0.3", "trainer.max_epochs=6", "callbacks.early_stopping.patience=1000"]
    train_in_process(tmp_path / "whole", *settings)
    train_in_process(
        tmp_path / "first", *settings[:1], "trainer.max_epochs=3", "callbacks.early_stopping.patience=1000"
    )
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    train_in_process(tmp_path / "rest", *settings, f"ckpt_path={last}")
    assert outcome(tmp_path / "rest")[1] == outcome(tmp_path / "whole")[1]
    assert outcome(tmp_path / "rest")[0] == outcome(tmp_path / "whole")[0]


@contextlib.contextmanager
def tmpfs(path, size: str, read_only: bool = False):
    path.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"this machine does not let the tests mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_one_line_and_the_next_run_continues(tmp_path):
    arguments = ["trainer.max_epochs=8", "callbacks.model_checkpoint.save_every_seconds=0", *QUIET]
    train_in_process(tmp_path / "reference", *arguments[:-1])
    with tmpfs(tmp_path / "disk", "150k") as disk:
        run_dir = disk / "run"
        result = run_script("train.py", *arguments, f"hydra.run.dir={run_dir}", log_dir=disk)
        assert result.returncode == 2
        errors = [line for line in (result.stdout + result.stderr).splitlines() if "error:" in line]
        assert len(errors) == 1 and "Traceback" not in result.stderr
        assert f"in {run_dir}" in errors[0] and "no space left on the device" in errors[0]
        assert "run the same command again to continue" in errors[0]
        assert not list(disk.rglob(".*.partial"))
        for checkpoint in (run_dir / "checkpoints").iterdir():
            assert torch.load(checkpoint, weights_only=True)["state_dict"]  # whole, not truncated
        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
        result = run_script("train.py", *arguments, f"hydra.run.dir={run_dir}", log_dir=disk)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "continuing from" in result.stdout + result.stderr
        assert outcome(run_dir) == outcome(tmp_path / "reference")


def test_a_read_only_log_dir_is_one_line_before_anything_runs(tmp_path):
    with tmpfs(tmp_path / "readonly", "1m", read_only=True) as readonly:
        result = run_script("train.py", log_dir=readonly)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: the log dir (LOG_DIR or paths.log_dir): cannot write in {readonly}: it is read-only"
    ]


def start(*args, log_dir):
    command = [sys.executable, str(ROOT / "src" / "train.py"), *args, *QUIET]
    environment = os.environ | {"LOG_DIR": str(log_dir)}
    return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the first process never got that far"
        time.sleep(0.05)


@pytest.mark.parametrize("multirun", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["run dir", "sweep dir"])
def test_a_second_process_on_a_dir_in_use_stops_with_one_line_and_writes_nothing(tmp_path, multirun):
    target = tmp_path / "target"
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    arguments = [*(["-m", "model.hidden=8,9"] if multirun else []), f"{key}={target}", "data.batch_size=1"]
    first = start(*arguments, "trainer.max_epochs=1000", log_dir=tmp_path)
    try:
        run_dir = (lambda: next(target.glob("0_*"), target / "none")) if multirun else (lambda: target)
        wait_for(lambda: (run_dir() / "history.csv").is_file() and len(read_history(run_dir() / "history.csv")) >= 1)
        before = {path: path.read_bytes() for path in target.rglob("*") if path.is_file() and path.suffix != ".ckpt"}
        second = run_script("train.py", *arguments, "trainer.max_epochs=1000", log_dir=tmp_path)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: {key}={target.resolve()} is in use by another process (a run or sweep writing there now); "
            "wait for it to end, or choose another dir"
        ]
        for path, content in before.items():  # .hydra/overrides.yaml and the rest: the second wrote nothing
            if path.name not in ("history.csv", "train.log") and not path.name.startswith("events."):
                assert path.read_bytes() == content, path
    finally:
        first.kill()
        first.wait()
    with locks.held(target, key):  # the killed holder left nothing stuck
        pass


@pytest.mark.slow
def test_a_relaunched_sweep_keeps_finished_jobs_finishes_others_and_retrains_a_broken_checkpoint(tmp_path):
    sweep = tmp_path / "sweep"
    arguments = ["-m", "model.hidden=10,20,30,40", "trainer.max_epochs=2", f"hydra.sweep.dir={sweep}"]
    assert run_script("train.py", *arguments, log_dir=tmp_path).returncode == 0
    kept, corrupt, broken, unfinished = (next(sweep.glob(f"{number}_*")) for number in range(4))
    (corrupt / "metrics.json").write_text('{"val_acc": 0.9, "trunc')
    (broken / "metrics.json").unlink()
    last = broken / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    (unfinished / "metrics.json").unlink()  # as if the machine died during its final test
    untouched = (kept / "metrics.json").read_bytes(), (kept / "metrics.json").stat().st_mtime_ns

    result = run_script("train.py", *arguments, log_dir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in output
    assert ((kept / "metrics.json").read_bytes(), (kept / "metrics.json").stat().st_mtime_ns) == untouched
    assert "has finished already" in output
    assert read_json(corrupt / "metrics.json")["epochs"] == 2  # trained again
    assert "metrics.json is corrupt" in output and "training this run again" in output
    assert read_json(unfinished / "metrics.json")["epochs"] == 2 and "continuing from" in output
    # A truncated last.ckpt (a kill during its write on a file system without atomic renames): one line, and the
    # job trains again from the start, its broken file kept aside.
    assert f"warning: {last} is not a readable torch checkpoint" in output
    assert "training this run from the start" in output
    assert read_json(broken / "metrics.json")["epochs"] == 2 and not (broken / "failure.txt").exists()
    assert len(read_history(broken / "history.csv")) == 2
    assert last.with_name("last.ckpt.unreadable").is_file() and len(last.read_bytes()) > 1000
    assert "4 runs, 0 not finished" in (sweep / "report.md").read_text()
    assert "job(s) of the sweep failed" not in output


def test_a_job_that_crashes_fails_alone_with_its_traceback_in_its_log(tmp_path):
    """A bug in one job's code (here a callback that divides by zero when built) ends that job only."""
    sweep = tmp_path / "sweep"
    crash = ["+callbacks.broken._target_=operator.truediv", "+callbacks.broken._args_=[1,0]"]
    arguments = ["-m", "model.hidden=10", "trainer.max_epochs=2", f"hydra.sweep.dir={sweep}"]
    result = run_script("train.py", *arguments, *crash, log_dir=tmp_path)
    assert result.returncode == 1
    (job,) = sweep.glob("0_*")
    failure = (job / "failure.txt").read_text()
    assert failure.startswith("error: InstantiationException: ") and "division by zero" in failure
    assert failure.count("\n") == 1 and "traceback is in this job's log" in failure
    assert "Traceback (most recent call last)" in (job / "train.log").read_text()
    assert "1 runs, none finished" in (sweep / "report.md").read_text()


def test_the_final_test_can_be_cut_short(tmp_path):
    train_in_process(
        tmp_path / "run", "trainer.max_epochs=1", "data.eval_batch_size=100", "trainer.limit_test_batches=2"
    )
    counts = read_json(tmp_path / "run" / "confusion.json")["counts"]
    assert [sum(map(sum, counts[split])) for split in ("train", "val", "test")] == [200, 200, 200]


@pytest.mark.slow
def test_a_dir_that_holds_runs_refuses_other_settings_and_keeps_what_it_recorded(tmp_path):
    """A finished run, or a sweep's jobs, re-run with other settings: one line naming the keys, nothing rewritten;
    where a run reads or writes and how it shows progress may change."""
    run_dir, sweep = tmp_path / "run", tmp_path / "sweep"
    assert run_script("train.py", "trainer.max_epochs=3", f"hydra.run.dir={run_dir}", log_dir=tmp_path).returncode == 0
    grid = ["-m", "model.hidden=10,20", "trainer.max_epochs=3", f"hydra.sweep.dir={sweep}"]
    assert run_script("train.py", *grid, log_dir=tmp_path).returncode == 0
    recorded = {
        path: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in [*run_dir.rglob("*.yaml"), *run_dir.glob("*.json"), *sweep.rglob("*.yaml"), *sweep.rglob("*.json")]
    }

    result = run_script("train.py", "trainer.max_epochs=7", f"hydra.run.dir={run_dir}", log_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: hydra.run.dir='{run_dir}' is invalid: it holds a run made with other settings (trainer.max_epochs "
        "3 then, 7 now); give the same settings to keep or continue it, or choose another dir"
    ]
    result = run_script("train.py", *grid[:2], "trainer.max_epochs=400", grid[3], log_dir=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: hydra.sweep.dir='{sweep}' is invalid: its job 0_hidden=10 holds a run made with ")
    assert "(trainer.max_epochs 3 then, 400 now)" in line
    result = run_script("train.py", *grid[:2], "model.act=tanh", *grid[2:], log_dir=tmp_path)
    assert result.returncode == 2 and "(model.act relu then, tanh now)" in result.stderr
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in recorded} == recorded

    same = run_script("train.py", "trainer.max_epochs=3", f"hydra.run.dir={run_dir}", "threads=1", log_dir=tmp_path)
    assert same.returncode == 0 and "has finished already" in same.stdout + same.stderr

    failed = tmp_path / "failed"  # failed before its first checkpoint: its own failure line asks for other settings
    assert (
        run_script(
            "train.py", "optimizer=sgd", "optimizer.lr=8", f"hydra.run.dir={failed}", log_dir=tmp_path
        ).returncode
        == 2
    )
    lower = run_script(
        "train.py",
        "optimizer=sgd",
        "optimizer.lr=0.1",
        "trainer.max_epochs=2",
        f"hydra.run.dir={failed}",
        log_dir=tmp_path,
    )
    assert lower.returncode == 0 and read_json(failed / "metrics.json")["epochs"] == 2


@pytest.mark.slow
def test_an_experiment_sweep_relaunched_into_its_dir_is_compared_job_by_job(tmp_path):
    """Its jobs come from the experiment's sweeper params as well as the command line, as Hydra lists them."""
    sweep = tmp_path / "sweep"
    one_job = ["experiment=digits_cases", "hydra.sweeper.params={+digits_case: a, seed: 0}", "data.source=sklearn"]
    command = [*one_job, "trainer.max_epochs=2", f"hydra.sweep.dir={sweep}"]  # MULTIRUN by the experiment, no -m
    assert run_script("train.py", *command, log_dir=tmp_path).returncode == 0
    again = run_script("train.py", *command, log_dir=tmp_path)
    assert again.returncode == 0 and "has finished already" in again.stdout + again.stderr
    other = run_script("train.py", *command[:-2], "trainer.max_epochs=3", command[-1], log_dir=tmp_path)
    assert other.returncode == 2
    (line,) = other.stderr.strip().splitlines()
    assert "is invalid: its job 0_" in line
    assert "holds a run made with other settings (trainer.max_epochs 2 then, 3 now)" in line


@pytest.mark.slow
def test_sigterm_saves_the_epoch_under_way_and_the_same_command_ends_as_an_uninterrupted_run(tmp_path):
    settings = ["trainer.max_epochs=150", "callbacks.early_stopping.patience=1000"]
    # No periodic save: the checkpoint the run continues from is the one the signal asked for.
    settings += ["callbacks.model_checkpoint.save_every_seconds=100000"]
    run_dir = tmp_path / "run"
    status, output = signalled_run(
        *settings,
        f"hydra.run.dir={run_dir}",
        log_dir=tmp_path,
        condition=lambda out: "Epoch 5/" in out,
        signum=signal.SIGTERM,
    )
    assert status == 128 + signal.SIGTERM
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert re.fullmatch(
        r"error: stopped by SIGTERM after epoch (\d+); its checkpoint is saved: run the same command "
        r"again to continue",
        line,
    )
    epoch = int(re.search(r"after epoch (\d+)", line).group(1))
    assert (run_dir / "failure.txt").read_text() == line + "\n" and not (run_dir / "metrics.json").exists()
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == epoch - 1
    assert len(read_history(run_dir / "history.csv")) == epoch

    again = run_script("train.py", *settings, f"hydra.run.dir={run_dir}", log_dir=tmp_path)
    assert again.returncode == 0 and f"continuing from {run_dir / 'checkpoints' / 'last.ckpt'}" in again.stdout
    whole = run_script("train.py", *settings, f"hydra.run.dir={tmp_path / 'whole'}", log_dir=tmp_path)
    assert whole.returncode == 0
    assert outcome(run_dir) == outcome(tmp_path / "whole") and not (run_dir / "failure.txt").exists()


def test_sigint_ends_a_sweep_with_one_line_and_the_report_of_what_finished(tmp_path):
    sweep = tmp_path / "sweep"
    grid = ["-m", "model.hidden=10,20", "trainer.max_epochs=3000", "callbacks.early_stopping.patience=10000"]
    status, output = signalled_run(
        *grid,
        f"hydra.sweep.dir={sweep}",
        log_dir=tmp_path,
        condition=lambda out: "Epoch 5/" in out,
        signum=signal.SIGINT,
    )
    assert status == 128 + signal.SIGINT and "Traceback" not in output
    assert re.search(r"error: stopped by SIGINT after epoch \d+; its checkpoint is saved", output)
    (job,) = sweep.glob("0_*")
    assert (job / "checkpoints" / "last.ckpt").is_file() and not list(sweep.glob("1_*"))  # the sweep ended there
    assert "1 runs, none finished" in (sweep / "report.md").read_text()


def test_a_stop_asked_for_between_jobs_ends_before_the_next_one_without_touching_its_dir(tmp_path, monkeypatch, caplog):
    """Asked while the previous job was testing (or a stacked member replayed its part), which is not cut."""
    monkeypatch.setattr(stopping, "_received", [signal.SIGTERM])
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as ended:
        train_in_process(run_dir, "trainer.max_epochs=2")
    assert ended.value.code == 128 + signal.SIGTERM
    line = "error: stopped by SIGTERM before this job started: run the same command again to continue"
    assert line in caplog.text
    assert not list(run_dir.iterdir())  # not even its config


def test_a_stop_asked_for_as_the_last_job_ended_ends_the_sweep_with_its_status(
    grid_sweep, tmp_path, monkeypatch, caplog
):
    sweep = shutil.copytree(grid_sweep, tmp_path / "sweep")
    (sweep / "report.md").unlink()
    monkeypatch.setattr(stopping, "_received", [signal.SIGINT])
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}, "report": True})
    with pytest.raises(SystemExit) as ended:
        SweepEnd().on_multirun_end(config)
    assert ended.value.code == 128 + signal.SIGINT
    assert "error: stopped by SIGINT as the sweep ended: run the same command again to continue" in caplog.text
    assert "4 runs, 0 not finished" in (sweep / "report.md").read_text()


def test_a_sweep_stopped_before_its_first_job_reports_nothing(tmp_path, caplog):
    (tmp_path / "multirun.yaml").write_text("{}\n")
    assert end_of_sweep(tmp_path, report=True)
    assert "error" not in caplog.text and not (tmp_path / "report.md").exists()
