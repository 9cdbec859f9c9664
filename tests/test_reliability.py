"""What goes wrong in a long grid costs one job and says so plainly: mistyped keys, diverging losses, sweeps
re-launched, checkpoints that do not belong to the run. (Kills, full disks, two writers: tests/test_faults.py.)"""

import re

import pytest
import torch

from conftest import read_json, run_script, train_in_process
from studykit.config.command_line import check
from studykit.errors import ConfigError


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model.hiden=10"], "model.hiden=10 is invalid: model has no key 'hiden'; did you mean hidden?"),
        (["-m", "model.hiden=10,40"], "model.hiden='10' is invalid: model has no key 'hiden'; did you mean hidden?"),
        (["modle.hidden=3"], "modle.hidden=3 is invalid: the config has no key 'modle'; did you mean model?"),
        (["data=mnist", "data.normalise=scale"], "data has no key 'normalise'; did you mean normalize?"),
        (["experiment=mnist_cnn", "model.pool_sise=3"], "did you mean pool_size or pool_stride or pooling?"),
        (["optimizer=sgd", "optimizer.momentum=0.9"], "+optimizer.momentum=... adds it; keys: fused, lr, weight_decay"),
    ],
)
def test_a_mistyped_key_is_named_with_the_closest_keys(args, message):
    with pytest.raises(ConfigError) as error:
        check("train", args)
    assert message in str(error.value)


@pytest.mark.parametrize("args", [["model.hidden=10", "model.act=tanh"], ["-m", "+digits_case=a,b", "seed=0,1"]])
def test_existing_keys_pass_and_the_same_keys_mistyped_do_not(args):
    assert check("train", args) is None
    key, value = args[-1].split("=")
    with pytest.raises(ConfigError, match=f"has no key '{key.split('.')[-1]}x'"):
        check("train", [*args[:-1], f"{key}x={value}"])


def test_the_command_line_stops_on_a_mistyped_key_before_anything_runs(tmp_path):
    result = run_script("train.py", "model.hiden=10", log_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: model.hiden=10 is invalid: model has no key 'hiden'; did you mean hidden? "
        "keys: act, depth, dropout, hidden, init, output_act"
    ]
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_bad_or_diverging_jobs_fail_alone_with_one_line_each(tmp_path):
    """The bad value also holds a `/` (once it nested the job dir, and the report lost the job) and HTML."""
    grid = ["-m", "optimizer=sgd", "optimizer.lr=1e12,0.01", "model.act='x/<b>y</b>',relu", "trainer.max_epochs=2"]
    result = run_script("train.py", *grid, log_dir=tmp_path)
    assert result.returncode == 1
    assert "3 job(s) of the sweep failed" in result.stdout + result.stderr
    (sweep,) = (tmp_path / "multirun").iterdir()
    jobs = sorted(path.name for path in sweep.iterdir() if path.is_dir() and path.name[0].isdigit())
    # One flat dir per job; Hydra writes 1e12 as 1000000000000.0, the name shows it short.
    assert len(jobs) == 4 and "_lr=1e+12,act=%27x%2F%3Cb%3Ey%3C%2Fb%3E%27" in jobs[0]
    failures = {path.parent.name.split("_")[0]: path.read_text() for path in sweep.glob("*/failure.txt")}
    assert sorted(failures) == ["0", "1", "2"]
    bad_value = "model.act='x/<b>y</b>' is invalid: accepted: elu, gelu, leaky_relu, mish, relu, selu"
    assert bad_value in failures["0"] and bad_value in failures["2"]
    assert failures["1"].startswith("error: the training loss is nan at epoch 1, step ")
    assert "lower optimizer.lr (now 1e+12)" in failures["1"]
    (healthy,) = sweep.glob("3_*")
    assert read_json(healthy / "metrics.json")["epochs"] == 2
    # The sweep report is written before the exit status says that jobs failed, and lists each reason, HTML as
    # text in both the Markdown and the HTML page.
    report = (sweep / "report.md").read_text()
    assert "4 runs, 3 not finished" in report and "the training loss is nan" in report
    assert "x/&lt;b&gt;y&lt;/b&gt;" in report and "<b>" not in report
    assert "x/&lt;b&gt;y&lt;/b&gt;" in (sweep / "report.html").read_text()


def test_a_checkpoint_of_another_model_is_refused(default_run, tmp_path):
    best = default_run / "checkpoints" / "best.ckpt"
    with pytest.raises(SystemExit):
        train_in_process(tmp_path / "run", f"ckpt_path={best}", "model.hidden=7")
    assert (
        (tmp_path / "run" / "failure.txt")
        .read_text()
        .startswith(f"error: ckpt_path='{best}' is invalid: it was written for other model settings (hidden differ)")
    )


def test_eval_reproduces_the_run_and_refuses_a_missing_checkpoint(default_run, tmp_path):
    result = run_script("eval.py", f"ckpt_path={default_run / 'checkpoints' / 'best.ckpt'}", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (eval_dir,) = (tmp_path / "eval").iterdir()
    # What it evaluates, the test's progress, its accuracies and losses, and where they went.
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 3 and lines[1].startswith("Testing: train ")
    checkpoint = default_run / "checkpoints" / "best.ckpt"
    assert lines[0] == f"MLP (3,010 parameters, seed 0) on Digits, from {checkpoint}"
    assert re.fullmatch(
        rf"train_acc [\d.]+, val_acc [\d.]+, test_acc [\d.]+; train_loss [\d.]+, val_loss [\d.]+, test_loss [\d.]+; "
        rf"results in {eval_dir}",
        lines[2],
    )
    evaluated, trained = read_json(eval_dir / "metrics.json"), read_json(default_run / "metrics.json")
    assert [evaluated[f"{split}_acc"] for split in ("train", "val", "test")] == [
        trained[f"{split}_acc"] for split in ("train", "val", "test")
    ]
    missing = tmp_path / "missing.ckpt"
    result = run_script("eval.py", f"ckpt_path={missing}", log_dir=tmp_path)
    assert result.returncode == 2 and f"ckpt_path='{missing}' is invalid: no such file" in result.stdout + result.stderr


@pytest.mark.parametrize("override", ["+data=mnist", "+model.hidden=10", "data=mnist", "+optimizer.lr=0.1"])
def test_eval_refuses_what_it_cannot_apply_before_writing_anything(override, tmp_path):
    key = override.lstrip("+").split("=")[0]
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(key)}=.* is invalid: eval.py evaluates the checkpoint with its own"
    ):
        check("eval", ["ckpt_path=some.ckpt", override])
    assert check("eval", ["ckpt_path=some.ckpt", "trainer.limit_test_batches=2", "paths.data_dir=/elsewhere"]) is None


def test_an_override_hydra_cannot_read_is_one_line_that_says_how_to_quote_it():
    with pytest.raises(ConfigError) as error:
        check("train", ["model.hidden=10", "model.act=tänh"])
    assert str(error.value) == (
        "model.act='tänh' is invalid: Hydra cannot read it (token recognition error at: 'ä'); put the value in "
        """quotes: 'model.act="tänh"'"""
    )


def test_a_path_pastes_as_printed_even_where_its_job_dir_holds_equals_signs():
    from studykit.config.command_line import pasteable

    path = "logs/multirun/x/3_hidden=40,act=tanh/checkpoints/best.ckpt"
    assert pasteable(f"ckpt_path={path}") == f"ckpt_path='{path}'"
    assert pasteable("ckpt_path=logs/runs/r/checkpoints/last.ckpt") == "ckpt_path=logs/runs/r/checkpoints/last.ckpt"
    assert pasteable("model.act=tanh") == "model.act=tanh" and pasteable(f"ckpt_path='{path}'") == f"ckpt_path='{path}'"


def test_different_seeds_give_different_splits_and_weights():
    from studykit.data.digits import DigitsDataModule

    first, second = DigitsDataModule(seed=0).load_splits(), DigitsDataModule(seed=1).load_splits()
    assert not torch.equal(first["test"][1], second["test"][1])
