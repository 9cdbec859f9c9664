"""`ckpt_path=<file>` continues fitting from a checkpoint in a new run dir and finishes the planned epochs; its
history starts with the checkpoint's epochs. (A killed run continuing in its own dir: tests/test_faults.py.)"""

import pytest

from conftest import read_json, train_in_process
from studykit.errors import ConfigError
from studykit.outputs.metrics import read_history
from studykit.run.checkpoints import read_run_config


def test_continue_from_a_checkpoint_in_a_new_run_dir(default_run, tmp_path):
    last = default_run / "checkpoints" / "last.ckpt"
    done = read_json(default_run / "metrics.json")["epochs"]
    summary = train_in_process(tmp_path / "run", f"ckpt_path={last}", f"trainer.max_epochs={done + 2}")
    assert summary["epochs"] == done + 2
    history = read_history(tmp_path / "run" / "history.csv")
    assert [int(row["epoch"]) for row in history] == list(range(1, done + 3))
    assert history[:done] == read_history(
        default_run / "history.csv"
    )  # the checkpoint's own epochs, as that run wrote them
    assert read_json(default_run / "metrics.json")["epochs"] == done  # the original run is untouched


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("folder", "is a folder; give a .ckpt file"),
        (b"not a checkpoint", "not a readable torch checkpoint \\(truncated, damaged, or another kind of file\\)$"),
        (bytes(range(256)) * 3, "not a readable torch checkpoint \\(truncated"),
        ("truncated", "not a readable torch checkpoint \\(truncated"),
    ],
)
def test_what_is_not_a_checkpoint_is_named(tmp_path, default_run, content, reason):
    path = tmp_path / "some.ckpt"
    if content == "folder":
        path.mkdir()
    elif content == "truncated":
        whole = (default_run / "checkpoints" / "last.ckpt").read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"ckpt_path='{path}' is invalid: {reason}"):
        read_run_config(str(path))
