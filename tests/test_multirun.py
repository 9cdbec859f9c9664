"""A grid is one command: one run dir and one TensorBoard run per job. (Failing jobs: tests/test_reliability.py.)"""

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import read_json


def test_two_by_two_grid_gives_four_runs(grid_sweep):
    jobs = sorted(path for path in grid_sweep.iterdir() if path.is_dir() and path.name[0].isdigit())
    # Each job dir is named by its number and the overrides its sweep varies, in the order given.
    cells = ["hidden=10,act=relu", "hidden=10,act=tanh", "hidden=40,act=relu", "hidden=40,act=tanh"]
    assert [job.name for job in jobs] == [f"{number}_{cell}" for number, cell in enumerate(cells)]
    params = [read_json(job / "metrics.json")["params"] for job in jobs]
    assert params == [64 * 10 + 10 + 10 * 10 + 10] * 2 + [64 * 40 + 40 + 40 * 10 + 10] * 2
    for job in jobs:
        events = EventAccumulator(str(job))
        events.Reload()
        assert len(events.Scalars("by_epoch/val_acc")) == 3
