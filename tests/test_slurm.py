"""Sweeps sent to a real SLURM cluster through the project's launcher config (hydra/launcher=slurm,
hydra-submitit-launcher): `make test-slurm` starts a one-node cluster on this machine (scripts/slurm_cluster.sh),
runs these tests against it, and stops it."""

import concurrent.futures
import os
import shutil
import subprocess
import time

import pytest
from optuna.trial import TrialState

from conftest import outcome, read_json, run_script
from studykit.outputs.metrics import read_history

pytestmark = pytest.mark.slurm

# What this one-node cluster offers a job (the launcher config's defaults ask for a GPU node with 8 CPUs).
RESOURCES = [
    "hydra/launcher=slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
    "hydra.launcher.timeout_min=10",
]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """The cluster `make test-slurm` started: SLURM_CONF set and the node idle."""
    if "SLURM_CONF" not in os.environ or not shutil.which("sinfo"):
        pytest.fail("no SLURM cluster: run these tests with make test-slurm")
    states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=True).stdout.split()
    assert "idle" in states, f"the node is {states}"


def test_a_grid_runs_as_slurm_jobs_with_one_report(tmp_path):
    sweep = tmp_path / "sweep"
    grid = ["-m", "model.hidden=10,40", "model.act=relu,tanh", "trainer.max_epochs=3", f"hydra.sweep.dir={sweep}"]
    result = run_script("train.py", *grid, *RESOURCES, log_dir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Submitit 'slurm' sweep output dir" in output and "4 runs, 0 not finished" in output
    jobs = sorted(path.parent for path in sweep.glob("*/metrics.json"))
    assert [job.name.split("_")[0] for job in jobs] == ["0", "1", "2", "3"]
    for job in jobs:
        assert read_json(job / "metrics.json")["epochs"] == 3
        assert (job / "checkpoints" / "best.ckpt").is_file() and (job / "confusion_test.png").is_file()
    # Each job ran as a task of one SLURM array, whose logs submitit keeps in the sweep dir.
    logs = sorted(path.name for path in (sweep / ".submitit").rglob("*_log.out"))
    assert len(logs) == 4 and len({name.split("_")[0] for name in logs}) == 1
    assert (sweep / "report.md").is_file() and "4 runs, 0 not finished" in (sweep / "report.md").read_text()


def test_ddp_ranks_are_slurm_tasks(tmp_path):
    """SLURM starts both ranks of the job (one task each) and Lightning starts none; the metrics are those of the
    same DDP run on this machine (the whole data over both ranks), its files written once."""
    sweep = tmp_path / "sweep"
    ddp = ["trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu", "trainer.max_epochs=3", "model.hidden=10"]
    result = run_script(
        "train.py",
        "-m",
        *ddp,
        *RESOURCES,
        "hydra.launcher.tasks_per_node=2",
        f"hydra.sweep.dir={sweep}",
        log_dir=tmp_path,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (job,) = [path.parent for path in sweep.glob("*/metrics.json")]
    tasks = sorted(path.name.split("_")[1] for path in (sweep / ".submitit").rglob("*_log.out"))
    assert tasks == ["0", "1"]
    assert not list(job.glob("train_ddp_process_*.log"))  # no rank started by Lightning
    alone = run_script("train.py", *ddp, f"hydra.run.dir={tmp_path / 'alone'}", log_dir=tmp_path)
    assert alone.returncode == 0, alone.stderr[-3000:]
    on_slurm, here = read_json(job / "metrics.json"), read_json(tmp_path / "alone" / "metrics.json")
    for name in ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc", "epochs", "best_epoch"):
        assert on_slurm[name] == here[name], name


def test_an_unknown_partition_is_one_line_before_anything_is_submitted(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_script(
        "train.py",
        "-m",
        "model.hidden=10,40",
        *RESOURCES,
        "hydra.launcher.partition=nosuch",
        f"hydra.sweep.dir={sweep}",
        log_dir=tmp_path,
    )
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line == "error: hydra.launcher.partition='nosuch' is invalid: this cluster has debug"
    assert not (sweep / ".submitit").exists()
    queue = subprocess.run(["squeue", "-h"], capture_output=True, text=True, check=True)
    assert queue.stdout.strip() == ""


def test_a_cancelled_job_fails_alone_the_report_is_written_and_the_same_command_finishes_it(tmp_path):
    sweep = tmp_path / "sweep"
    long_jobs = ["model.hidden=10,40", "trainer.max_epochs=300", "data.batch_size=8"]
    long_jobs += ["callbacks.early_stopping.patience=1000", "callbacks.model_checkpoint.save_every_seconds=1"]
    command = ["train.py", "-m", *long_jobs, *RESOURCES, f"hydra.sweep.dir={sweep}"]
    with concurrent.futures.ThreadPoolExecutor() as pool:
        first = pool.submit(run_script, *command, log_dir=tmp_path)
        wait_for(lambda: list(sweep.glob("1_*/checkpoints/last.ckpt")), first, "job 1's checkpoint")  # under way
        queued = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout
        (job_id,) = [job for job in queued.split() if job.endswith("_1")]
        subprocess.run(["scancel", job_id], check=True)
        cancelled = first.result()
    output = cancelled.stdout + cancelled.stderr
    assert cancelled.returncode == 1, output[-3000:]
    assert f"1_hidden=40: error: SLURM ended job {job_id} without a result (state CANCELLED" in output
    assert "run the same command again to finish it" in output
    assert "2 runs, 1 not finished" in (sweep / "report.md").read_text()
    (finished,) = sweep.glob("0_*/metrics.json")
    written = finished.stat().st_mtime_ns

    again = run_script(*command, log_dir=tmp_path)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert finished.stat().st_mtime_ns == written  # the finished job kept
    (job,) = sweep.glob("1_*")
    assert read_json(job / "metrics.json")["epochs"] == 300 and len(read_history(job / "history.csv")) == 300
    assert "continuing from" in (job / "train.log").read_text() and not (job / "failure.txt").exists()
    assert "2 runs, 0 not finished" in (sweep / "report.md").read_text()


# A one-job sweep long enough to be interrupted after its first periodic checkpoint.
REQUEUED = [
    "model.hidden=40",
    "trainer.max_epochs=150",
    "data.batch_size=8",
    "callbacks.early_stopping.patience=1000",
    "callbacks.model_checkpoint.save_every_seconds=1",
]


def requeued_job(tmp_path, interrupt: list[str]):
    """The REQUEUED sweep on SLURM, its job interrupted with `interrupt + [job id]` once it has a checkpoint and
    let out of SLURM's 2-minute hold as soon as it is queued again; the job's dir, once the sweep has ended."""
    sweep = tmp_path / "sweep"
    with concurrent.futures.ThreadPoolExecutor() as pool:
        sweep_run = pool.submit(
            run_script,
            "train.py",
            "-m",
            *REQUEUED,
            *RESOURCES,  # timeout_min=10: submitit counts SIGUSR2 as the time limit's
            f"hydra.sweep.dir={sweep}",
            log_dir=tmp_path,
        )
        wait_for(lambda: list(sweep.glob("0_*/checkpoints/last.ckpt")), sweep_run, "a checkpoint")
        (job_id,) = subprocess.run(
            ["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True
        ).stdout.split()
        subprocess.run([*interrupt, job_id], check=True)
        wait_for(lambda: job_state(job_id) == "PENDING", sweep_run, "the job queued again")
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
        result = sweep_run.result()
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (job,) = sweep.glob("0_*")
    return job


def uninterrupted(tmp_path) -> tuple[dict, list[dict]]:
    """What the REQUEUED run writes when nothing stops it, here and not on SLURM."""
    alone = tmp_path / "alone"
    here = run_script("train.py", *REQUEUED, f"hydra.run.dir={alone}", log_dir=tmp_path)
    assert here.returncode == 0, here.stderr[-3000:]
    return outcome(alone)


def test_a_job_requeued_by_slurm_stops_at_an_epoch_end_and_continues_to_the_uninterrupted_result(tmp_path):
    """Preemption (`scontrol requeue`): SLURM sends SIGTERM, the run finishes its epoch and saves (the project's
    handler wins over submitit's, which ignores SIGTERM, and Lightning's), SLURM queues the job again, and the job
    continues from its last.ckpt to what an uninterrupted run writes."""
    job = requeued_job(tmp_path, ["scontrol", "requeue"])
    log = (job / "train.log").read_text()
    assert "stopped by SIGTERM after epoch" in log and "continuing from" in log
    assert outcome(job) == uninterrupted(tmp_path)


def test_a_job_at_its_time_limit_is_requeued_by_submitit_and_continues_to_the_uninterrupted_result(tmp_path):
    """SLURM's warning before a time limit (SIGUSR2, sent here by hand: SLURM's own timing has a resolution of a
    minute) reaches submitit's handler, which requeues the job (the config's `max_num_timeout` allows it) and
    exits; the job continues from its last periodic checkpoint to what an uninterrupted run writes."""
    job = requeued_job(tmp_path, ["scancel", "--signal=USR2"])
    assert "continuing from" in (job / "train.log").read_text()
    submitit_log = "".join(path.read_text() for path in (job.parent / ".submitit").rglob("*_log.err"))
    assert "Caught signal SIGUSR2" in submitit_log and "this job is timed-out" in submitit_log
    assert outcome(job) == uninterrupted(tmp_path)


def test_a_trial_slurm_cancels_is_queued_again_and_continues_from_its_checkpoint(tmp_path):
    import optuna

    from studykit.search.optuna_study import FAILURE, JOB, journal

    search = ["hparams_search=digits_optuna", "data.batch_size=8", "trainer.max_epochs=60"]
    search += ["hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", "callbacks.early_stopping.patience=1000"]
    search += ["callbacks.model_checkpoint.save_every_seconds=1"]
    sweep = tmp_path / "search" / "digits_mlp"
    with concurrent.futures.ThreadPoolExecutor() as pool:
        searching = pool.submit(run_script, "train.py", *search, *RESOURCES, log_dir=tmp_path)
        wait_for(lambda: list(sweep.glob("1_*/checkpoints/last.ckpt")), searching, "trial 1's checkpoint")
        queued = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout
        (job_id,) = [job for job in queued.split() if job.endswith("_1")]
        subprocess.run(["scancel", job_id], check=True)
        result = searching.result()
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "without a result (state CANCELLED" in result.stdout + result.stderr
    study = optuna.load_study(study_name="digits_mlp", storage=journal(sweep / "optuna.journal"))
    states = [trial.state for trial in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE], states
    cancelled, retried = study.trials[1], study.trials[2]
    assert FAILURE not in cancelled.user_attrs  # an interruption: not counted toward n_trials
    assert retried.params == cancelled.params and retried.user_attrs[JOB] == 1
    (job,) = sweep.glob("1_*")
    assert "continuing from" in (job / "train.log").read_text() and not (job / "failure.txt").exists()
    assert retried.value == read_json(job / "metrics.json")["val_acc"]
    assert read_json(job / "metrics.json")["epochs"] == 60


def test_stacked_groups_run_as_one_slurm_job_each(tmp_path):
    sweep = tmp_path / "sweep"
    grid = ["-m", "seed=range(0,3)", "model.hidden=10,40", "trainer.max_epochs=5", f"hydra.sweep.dir={sweep}"]
    slurm = [setting.replace("hydra.launcher.", "hydra.launcher.slurm.") for setting in RESOURCES[1:]]
    result = run_script("train.py", *grid, "hydra/launcher=stacked_slurm", *slurm, log_dir=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "jobs 0, 2, 4: one SLURM job" in result.stdout and "jobs 1, 3, 5: one SLURM job" in result.stdout
    logs = {path.name: path.read_text() for path in (sweep / ".submitit").rglob("*_log.out")}
    assert len(logs) == 2 and all("stacking jobs" in text and "stacked epoch 5" in text for text in logs.values())
    jobs = sorted(path.parent for path in sweep.glob("*/metrics.json"))
    assert len(jobs) == 6 and all((job / "checkpoints" / "last.ckpt").is_file() for job in jobs)
    assert "6 runs, 0 not finished" in (sweep / "report.md").read_text()
    (member,) = sweep.glob("3_*")  # seed 1, 40 wide: as the same job alone
    alone = run_script(
        "train.py",
        "seed=1",
        "model.hidden=40",
        "trainer.max_epochs=5",
        f"hydra.run.dir={tmp_path / 'a'}",
        log_dir=tmp_path,
    )
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert read_json(member / "metrics.json")["test_acc"] == read_json(tmp_path / "a" / "metrics.json")["test_acc"]


def job_state(job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout.strip()


def wait_for(condition, running: concurrent.futures.Future, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline and not running.done(), f"never saw {what}"
        time.sleep(0.2)


def test_a_search_runs_its_trials_as_slurm_jobs_with_the_study_on_the_shared_dir(tmp_path):
    import optuna

    from studykit.report.runs import job_directories
    from studykit.search.optuna_study import JOB, journal

    search = ["hparams_search=digits_optuna", "data.batch_size=128", "hydra.sweeper.n_trials=3"]
    result = run_script("train.py", *search, "hydra.sweeper.n_jobs=2", *RESOURCES, log_dir=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    sweep = tmp_path / "search" / "digits_mlp"
    arrays = sorted(path.name for path in (sweep / ".submitit").iterdir() if "_" not in path.name)
    assert len(arrays) == 2  # trials 0 and 1 asked together, one SLURM array; then trial 2
    study = optuna.load_study(study_name="digits_mlp", storage=journal(sweep / "optuna.journal"))
    assert len(study.trials) == 3 and all(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)
    for trial in study.trials:  # reported from inside the SLURM jobs to the journal the search reads
        (job,) = [path for path in job_directories(sweep) if path.name.startswith(f"{trial.user_attrs[JOB]}_")]
        assert trial.value == read_json(job / "metrics.json")["val_acc"]
        history = read_history(job / "history.csv")
        assert trial.intermediate_values == {int(row["epoch"]): float(row["val_acc"]) for row in history}
