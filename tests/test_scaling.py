"""Beyond one process: a grid through the joblib and submitit launchers and real DDP on two CPU processes, each
checked by what the runs wrote (the Optuna search: tests/test_optuna_search.py)."""

import os

import pytest

from conftest import macro_f1, outcome, read_json, run_script

pytestmark = pytest.mark.slow  # a few minutes: `make test-slow` (CI runs it after `make test`)

GRID = ["-m", "model.hidden=10,40", "model.act=relu,tanh", "trainer.max_epochs=2"]


def finished_jobs(log_dir):
    (sweep,) = (log_dir / "multirun").iterdir()
    return sweep, [read_json(path) for path in sorted(sweep.glob("*/metrics.json"))]


def test_joblib_runs_the_grid_two_at_a_time_with_the_cores_shared(tmp_path):
    result = run_script("train.py", *GRID, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    sweep, runs = finished_jobs(tmp_path)
    assert len(runs) == 4 and all(run["epochs"] == 2 for run in runs)
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert {run["hardware"].split("torch threads: ")[1] for run in runs} == {str(threads)}
    assert len((sweep / "summary.csv").read_text().splitlines()) == 5


def test_submitit_local_runs_the_grid(tmp_path):
    result = run_script("train.py", *GRID, "hydra/launcher=submitit_local", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    sweep, runs = finished_jobs(tmp_path)
    assert sorted(run["params"] for run in runs) == [760, 760, 3010, 3010]
    assert (sweep / ".submitit").is_dir()


def test_ddp_on_two_cpu_processes_writes_once_and_measures_the_whole_data(tmp_path):
    arguments = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2"]
    result = run_script("train.py", *arguments, "metrics=[f1_macro]", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sync_dist" not in result.stderr  # no advice to sum the metrics again: torchmetrics summed them
    (run_dir,) = (tmp_path / "runs").iterdir()
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["epochs"] == 2
    assert sorted(path.name for path in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert len((run_dir / "history.csv").read_text().splitlines()) == 3  # a header and one row per epoch
    counts = read_json(run_dir / "confusion.json")["counts"]
    # The bundled digits split 1077 / 360 / 360; each rank sees half, the matrices hold all of it.
    assert [sum(map(sum, counts[split])) for split in ("train", "val", "test")] == [1077, 360, 360]
    assert metrics["val_acc"] == pytest.approx(sum(counts["val"][i][i] for i in range(10)) / 360)
    assert metrics["test_f1_macro"] == pytest.approx(macro_f1(counts["test"]))


def test_ddp_inside_a_multirun_runs_each_job_once_with_all_its_ranks(tmp_path):
    """Lightning starts the other ranks by running the command line again, `-m` and grid included: they must
    run their own job only, in its dir, and write nothing there but their log."""
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2"]
    result = run_script("train.py", "-m", "model.hidden=10,40", *ddp, log_dir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert output.count("Launching 2 jobs locally") == 1 and output.count("report: ") == 1
    assert sorted(path.name for path in tmp_path.iterdir() if path.is_dir()) == ["multirun"]
    sweep, runs = finished_jobs(tmp_path)
    assert sorted(run["params"] for run in runs) == [760, 3010]
    for job in sorted(path for path in sweep.iterdir() if path.name[0].isdigit()):
        counts = read_json(job / "confusion.json")["counts"]  # each rank saw half; the matrices hold all of it
        assert [sum(map(sum, counts[split])) for split in ("train", "val", "test")] == [1077, 360, 360]
        assert len((job / "history.csv").read_text().splitlines()) == 3
        assert "train_ddp_process_1.log" in {path.name for path in job.iterdir()}
    assert len((sweep / "summary.csv").read_text().splitlines()) == 3


def test_ddp_under_the_joblib_launcher_is_one_line(tmp_path):
    arguments = ["-m", "trainer=ddp", "model.hidden=10,40", "hydra/launcher=joblib"]
    result = run_script("train.py", *arguments, log_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: hydra/launcher='joblib' is invalid: DDP (trainer=ddp) runs one")
    assert not (tmp_path / "multirun").exists()


def test_ddp_results_do_not_depend_on_batches_per_step(tmp_path):
    """Both ranks step together: one optimizer step per batch, gradients averaged over the ranks at each step,
    whether a Lightning step trains one batch or many (ranks left unsynchronized would drift apart)."""
    arguments = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=3"]
    for steps in (1, 256):
        run_dir = tmp_path / f"steps{steps}"
        result = run_script(
            "train.py", *arguments, f"classifier.batches_per_step={steps}", f"hydra.run.dir={run_dir}", log_dir=tmp_path
        )
        assert result.returncode == 0, result.stderr[-2000:]
    assert outcome(tmp_path / "steps1") == outcome(tmp_path / "steps256")
