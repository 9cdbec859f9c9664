"""What a user sees in TensorBoard, asked of a real TensorBoard server over its HTTP API: a log dir holding a 2x2
sweep, a single run and a failed run gives one HParams row per run with its settings and its metrics.json
results, its curves grouped by x axis, its confusion images, and the sweep's table as text."""

import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import read_json, train_in_process
from screenshots import tensorboard_server
from studykit.outputs.metrics import RESULTS

USUAL = {"data", "model", "optimizer", "optimizer.lr", "data.batch_size", "seed"}
CURVES = [
    f"{axis}/{split}_{name}"
    for axis in ("by_epoch", "by_training_ms")
    for split in ("train", "val")
    for name in ("acc", "loss")
]


@pytest.fixture(scope="module")
def logs(grid_sweep, default_run, tmp_path_factory) -> Path:
    """One log dir as `make tensorboard` serves it: the grid sweep, a single run, a run that failed."""
    root = tmp_path_factory.mktemp("tensorboard")
    shutil.copytree(grid_sweep, root / "multirun" / grid_sweep.name)
    shutil.copytree(default_run, root / "runs" / "default")
    with pytest.raises(SystemExit):
        train_in_process(root / "runs" / "failed", "optimizer=sgd", "optimizer.lr=1e12")
    return root


@pytest.fixture(scope="module")
def board(logs):
    with tensorboard_server(logs) as server:
        yield server


def run_dirs(logs: Path) -> list[Path]:
    return sorted(path.parent for path in logs.rglob("hparams") if (path.parent / "config.yaml").exists())


def test_hparams_one_row_per_run_with_its_settings_and_results(board, logs):
    experiment = board.post("/data/plugin/hparams/experiment", {"experimentName": ""})
    columns = {info["name"]: info for info in experiment["hparamInfos"]}
    assert USUAL | {"model.hidden", "model.act"} | set(RESULTS) <= columns.keys()
    assert columns["model.hidden"]["differs"] and not columns["data"]["differs"]
    assert not experiment.get("metricInfos")  # no curve's last value passes for a result
    statuses = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
    request = {"experimentName": "", "allowedStatuses": statuses, "colParams": [], "startIndex": 0, "sliceSize": 100}
    groups = board.post("/data/plugin/hparams/session_groups", request)["sessionGroups"]
    rows = {Path(group["sessions"][0]["name"]).parent.name: group for group in groups}
    assert sorted(rows) == sorted(path.name for path in run_dirs(logs))  # exactly once each
    for run_dir in run_dirs(logs):
        row = rows[run_dir.name]
        if run_dir.name == "failed":
            assert row["sessions"][0]["status"] == "STATUS_FAILURE"
            assert row["hparams"]["optimizer"] == "sgd" and "val_acc" not in row["hparams"]
            continue
        metrics = read_json(run_dir / "metrics.json")
        assert row["sessions"][0]["status"] == "STATUS_SUCCESS"
        assert {key: row["hparams"][key] for key in RESULTS} == pytest.approx({key: metrics[key] for key in RESULTS})
        assert USUAL <= row["hparams"].keys()
    names = {Path(group["sessions"][0]["name"]).parent.name: group["name"] for group in groups}
    assert names["0_hidden=10,act=relu"].startswith("0_hidden=10,act=relu  (")  # the trial says what it varied
    assert rows["0_hidden=10,act=relu"]["hparams"]["model.hidden"] == "10"  # shown as 10, not 10.000


def test_curves_grouped_by_x_axis_and_confusion_images(board, logs):
    scalars, images = board.get("/data/plugin/scalars/tags"), board.get("/data/plugin/images/tags")
    root = logs.resolve()
    for run_dir in run_dirs(logs):
        if run_dir.name == "failed":
            continue
        run = run_dir.resolve().relative_to(root).as_posix()
        assert sorted(scalars[run]) == sorted(CURVES)  # and no final numbers as one-dot charts
        assert sorted(images[run]) == ["confusion/test", "confusion/train", "confusion/val"]
        (shown,) = board.get("/data/plugin/images/images", run=run, tag="confusion/test")
        with urllib.request.urlopen(f"{board.url}/data/plugin/images/individualImage?{shown['query']}") as image:
            assert image.read() == (run_dir / "confusion_test.png").read_bytes()  # the file's PNG, as it is
        epochs = read_json(run_dir / "metrics.json")["epochs"]
        points = board.get(f"/data/plugin/scalars/scalars?run={urllib.parse.quote(run)}&tag=by_epoch/val_loss")
        assert [step for _, step, _ in points] == list(range(1, epochs + 1))
    assert not any(run_dir.joinpath("hparams.yaml").exists() for run_dir in run_dirs(logs))


def test_the_sweep_table_is_text_of_few_columns(board):
    tags = board.get("/data/plugin/text/tags")
    ((report, (tag,)),) = [(run, names) for run, names in tags.items() if run.endswith("report/tensorboard")]
    (entry,) = board.get(f"/data/plugin/text/text?run={urllib.parse.quote(report)}&tag={urllib.parse.quote(tag)}")
    header = (
        "<th>job</th><th>model.hidden</th><th>model.act</th><th>val_acc</th><th>test_acc</th><th>train_seconds</th>"
    )
    assert header + "<th>status</th><th>best</th></tr>" in entry["text"].replace("\n", "")
