"""A grid is one command: one run dir and one TensorBoard run per job; a bad job fails alone."""

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import read_json, run_script


def test_two_by_two_grid_gives_four_runs(grid_sweep):
    jobs = sorted(path for path in grid_sweep.iterdir() if path.is_dir() and path.name[0].isdigit())
    # Each job dir is named by its number and all its overrides, sorted by key.
    fixed = "callbacks.progress_bar.refresh_rate=0,{},trainer.max_epochs=3"
    cells = [
        "model.act=relu,model.hidden=10",
        "model.act=tanh,model.hidden=10",
        "model.act=relu,model.hidden=40",
        "model.act=tanh,model.hidden=40",
    ]
    assert [job.name for job in jobs] == [f"{number}_{fixed.format(cell)}" for number, cell in enumerate(cells)]
    params = [read_json(job / "metrics.json")["params"] for job in jobs]
    assert params == [64 * 10 + 10 + 10 * 10 + 10] * 2 + [64 * 40 + 40 + 40 * 10 + 10] * 2
    for job in jobs:
        events = EventAccumulator(str(job))
        events.Reload()
        assert len(events.Scalars("val/acc")) == 3


def test_a_failing_job_does_not_stop_the_others(tmp_path):
    result = run_script("train.py", "-m", "model.act=swish,tanh", "trainer.max_epochs=1", log_dir=tmp_path)
    assert result.returncode == 1
    (sweep,) = (tmp_path / "multirun").iterdir()
    job_name = "{}_callbacks.progress_bar.refresh_rate=0,model.act={},trainer.max_epochs=1"
    assert "model.act='swish' is invalid" in (sweep / job_name.format(0, "swish") / "failure.txt").read_text()
    assert read_json(sweep / job_name.format(1, "tanh") / "metrics.json")["epochs"] == 1
    assert "1 job(s) of the sweep failed" in result.stdout + result.stderr
    # The sweep report is written before the exit status says that a job failed, and lists the failure.
    report = (sweep / "report.md").read_text()
    assert "2 runs, 1 not finished" in report and "model.act='swish' is invalid" in report
