"""hydra/launcher=stacked: jobs that differ in their seed, optimizer settings or early stopping train as one
group, and each still ends as a whole single run of its own, equal to the same job run alone."""

import re
import signal
import tempfile
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import read_json, run_script, run_until, signalled_run, train_in_process
from studykit.config.compose import compose_run
from studykit.outputs.metrics import read_history
from studykit.run.checkpoints import read_run_config
from studykit.stacking.fit import Member, Stack
from studykit.stacking.groups import group_key, why_alone

EPOCH_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc")
# Stacked members add their batches' products in another order (batched matrix products): float32 rounding,
# which grows over a long run (README: 8.1e-5 at most over whole digits runs; over 300 epochs without early
# stopping 6.9e-5 measured on an Intel Xeon VM, 1.1e-4 on an AMD EPYC VM).
TOLERANCE = 1e-5
LONG_RUN_TOLERANCE = 3e-4


def relative_differences(stacked_dir, single_dir) -> list[float]:
    stacked, single = read_history(stacked_dir / "history.csv"), read_history(single_dir / "history.csv")
    assert len(stacked) == len(single)
    return [
        abs(a[key] - b[key]) / max(abs(b[key]), 1e-12)
        for a, b in zip(stacked, single, strict=True)
        for key in EPOCH_COLUMNS
    ]


@pytest.mark.slow
def test_stacked_seeds_equal_their_single_runs_file_for_file(tmp_path):
    grid = ["-m", "seed=0,1,2", "trainer.max_epochs=8", "callbacks.early_stopping.patience=3"]
    stacked = run_script(
        "train.py", *grid, "hydra/launcher=stacked", f"hydra.sweep.dir={tmp_path / 's'}", log_dir=tmp_path
    )
    assert stacked.returncode == 0, (stacked.stdout + stacked.stderr)[-3000:]
    assert "stacking jobs 0, 1, 2: seed 0, 1, 2" in stacked.stdout
    assert "stacked epoch" in stacked.stdout and "3 runs, 0 not finished" in stacked.stdout
    single = run_script("train.py", *grid, f"hydra.sweep.dir={tmp_path / 'b'}", log_dir=tmp_path)
    assert single.returncode == 0
    steps = [(tmp_path / side / "0_seed=0" / "train.log").read_text() for side in ("s", "b")]
    assert "training step: in a stacked group of 3, the MLPs' gradients written out" in steps[0]
    assert "training step: the MLP's gradients written out, fused Adam's kernel called directly" in steps[1]
    for seed in range(3):
        job = f"{seed}_seed={seed}"
        ours, theirs = (
            read_json(tmp_path / "s" / job / "metrics.json"),
            read_json(tmp_path / "b" / job / "metrics.json"),
        )
        assert max(relative_differences(tmp_path / "s" / job, tmp_path / "b" / job)) < TOLERANCE
        assert (ours["epochs"], ours["best_epoch"], ours["test_acc"]) == (
            theirs["epochs"],
            theirs["best_epoch"],
            theirs["test_acc"],
        )
        assert abs(ours["test_loss"] - theirs["test_loss"]) < TOLERANCE
        # The same files (TensorBoard's event files are named by time and process).
        names = [{path.name for path in (tmp_path / side / job).iterdir()} for side in ("s", "b")]
        assert [{name for name in found if not name.startswith("events")} for found in names] == [
            names[1] - {name for name in names[1] if name.startswith("events")}
        ] * 2
        assert [len([name for name in found if name.startswith("events")]) for found in names] == [2, 2]
        assert read_run_config(str(tmp_path / "s" / job / "checkpoints" / "best.ckpt"))["seed"] == seed
    evaluated = run_script(
        "eval.py", f"ckpt_path={tmp_path / 's' / '1_seed=1' / 'checkpoints' / 'best.ckpt'}", log_dir=tmp_path
    )
    assert evaluated.returncode == 0
    (eval_dir,) = (tmp_path / "eval").iterdir()
    assert (
        read_json(eval_dir / "metrics.json")["test_acc"]
        == read_json(tmp_path / "s" / "1_seed=1" / "metrics.json")["test_acc"]
    )

    again = run_script(
        "train.py", *grid, "hydra/launcher=stacked", f"hydra.sweep.dir={tmp_path / 's'}", log_dir=tmp_path
    )
    assert again.returncode == 0 and "stacking" not in again.stdout
    assert (again.stdout + again.stderr).count("has finished already") == 3


def test_each_member_keeps_its_optimizer_settings_and_fails_alone(tmp_path):
    """Learning rates stack (one optimizer per setting); one that diverges in its second epoch fails with its
    single run's line; a bad value fails alone before training; the others still stack."""
    grid = ["-m", "optimizer=sgd", "optimizer.lr=0.01,0.03,4,-1", "trainer.max_epochs=4", "hydra/launcher=stacked"]
    result = run_script("train.py", *grid, f"hydra.sweep.dir={tmp_path / 's'}", log_dir=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert "stacking jobs 0, 1, 2: optimizer.lr 0.01, 0.03, 4" in result.stdout
    jobs = {path.name.split("_")[0]: path for path in (tmp_path / "s").iterdir() if path.is_dir()}
    train_in_process(tmp_path / "logs" / "alone", "optimizer=sgd", "optimizer.lr=0.03", "trainer.max_epochs=4")
    assert max(relative_differences(jobs["1"], tmp_path / "logs" / "alone")) < TOLERANCE
    ours, theirs = (torch.load(run / "checkpoints" / "last.ckpt") for run in (jobs["1"], tmp_path / "logs" / "alone"))
    assert ours["optimizer_states"] == theirs["optimizer_states"]  # plain SGD: no state, the same settings
    with pytest.raises(SystemExit):
        train_in_process(tmp_path / "logs" / "diverging", "optimizer=sgd", "optimizer.lr=4", "trainer.max_epochs=4")
    assert (jobs["2"] / "failure.txt").read_text() == (tmp_path / "logs" / "diverging" / "failure.txt").read_text()
    assert (jobs["3"] / "failure.txt").read_text() == "error: optimizer.lr=-1 is invalid: must be a number > 0\n"
    assert read_json(jobs["0"] / "metrics.json")["epochs"] == 4


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        ("max_members=1", "max_members=1 is invalid: must be null or an integer >= 2"),
        ("max_members=true", "max_members=true is invalid: must be null or an integer >= 2"),
        ("stack_if=sometimes", "stack_if='sometimes' is invalid: accepted: faster, always"),
        ("processes=0", "processes=0 is invalid: must be null or an integer >= 1"),
    ],
)
def test_a_bad_launcher_setting_is_one_line_before_any_job(tmp_path, setting, line):
    result = run_script(
        "train.py", "-m", "seed=0,1", "hydra/launcher=stacked", f"hydra.launcher.{setting}", log_dir=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: hydra.launcher.{line}"]
    assert not list(tmp_path.rglob("metrics.json")) and not list(tmp_path.rglob("multirun.yaml"))


def test_what_stacks_together():
    def key(*overrides):
        return group_key(compose_run("train", list(overrides), output_dir_for(overrides)))

    base = key("seed=0")
    assert key("seed=7", "optimizer.lr=0.01", "callbacks.early_stopping.patience=5", "threads=1") == base
    assert key("model.hidden=10") != base and key("data.batch_size=64") != base and key("optimizer=sgd") != base
    assert key("model.dropout=0.5") is None
    cfg = compose_run("train", ["trainer.max_steps=100"], output_dir_for(()))
    assert why_alone(cfg) == "trainer.max_steps or limit_train_batches cut its epochs"
    tested_in_part = compose_run("train", ["trainer.limit_test_batches=0.5"], output_dir_for(("limit",)))
    assert why_alone(tested_in_part) == "it tests on part of the data"  # the group tests every sample
    assert OmegaConf.select(cfg, "seed") == 0


def test_on_a_gpu_machine_jobs_that_would_train_on_it_train_alone(monkeypatch):
    """Groups train on the CPU; a job whose single run Lightning would put on the GPU (`trainer=auto`, or a
    trainer config without an accelerator) must not be moved to the CPU by stacking it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert why_alone(compose_run("train", ["trainer=auto"], output_dir_for(("gpu", "auto")))) == (
        "groups train on the CPU"
    )
    assert why_alone(compose_run("train", ["trainer=default"], output_dir_for(("gpu", "default")))) == (
        "groups train on the CPU"
    )
    assert why_alone(compose_run("train", [], output_dir_for(("gpu", "cpu")))) is None  # trainer=cpu, the default


def output_dir_for(overrides) -> Path:
    return Path(tempfile.mkdtemp()) / "_".join(overrides).replace("/", "-")


@pytest.mark.parametrize(
    ("data", "network"),
    [
        pytest.param("mnist", ["model=convnet", "model.channels=[4]", "model.hidden=8"], marks=pytest.mark.slow),
        # each member's own statistics, at once
        pytest.param("mnist", ["model.hidden=8", "data.normalize=standardize"], marks=pytest.mark.slow),
        # each member's own crops and flips
        pytest.param("mnist", ["model.hidden=8", "data.augment=true"], marks=pytest.mark.slow),
        ("imdb", ["model=textcnn", "model.embed_dim=4", "model.filters=4", "model.hidden=8"]),
    ],
)
def test_networks_of_images_and_text_stack_as_their_single_runs(tmp_path, data, network):
    from official_formats import tiny_imdb, tiny_mnist

    data_dir = tmp_path / "data"
    if data == "mnist":
        tiny_mnist(data_dir, train=100, test=20)
    else:
        tiny_imdb(data_dir)
    settings = [f"data={data}", f"paths.data_dir={data_dir}", "data.download=false", *network, "trainer.max_epochs=3"]
    stacked = run_script(
        "train.py",
        "-m",
        *settings,
        "seed=0,1",
        "hydra/launcher=stacked",
        "hydra.launcher.stack_if=always",  # stacked even where its members alone would be faster
        f"hydra.sweep.dir={tmp_path / 's'}",
        log_dir=tmp_path,
    )
    assert stacked.returncode == 0, (stacked.stdout + stacked.stderr)[-3000:]
    assert "stacking jobs 0, 1: seed 0, 1\n" in stacked.stdout
    alone = tmp_path / "logs" / "alone"
    train_in_process(alone, *settings, "seed=1")
    (member,) = (tmp_path / "s").glob("1_*")
    assert max(relative_differences(member, alone)) < TOLERANCE
    assert read_json(member / "metrics.json")["test_acc"] == read_json(alone / "metrics.json")["test_acc"]
    # The batch order and augmentation draws still to come, as the run alone left them in its last checkpoint.
    ours, theirs = (torch.load(run / "checkpoints" / "last.ckpt", weights_only=False) for run in (member, alone))
    data_state = next(key for key in theirs if key.endswith("DataModule"))
    assert ours[data_state].keys() == theirs[data_state].keys()
    for key, value in theirs[data_state].items():
        assert torch.equal(ours[data_state][key], value) if torch.is_tensor(value) else ours[data_state][key] == value


@pytest.mark.slow
@pytest.mark.parametrize("killed", ["while the group trains", "after its first member's run"])
def test_a_killed_stacked_sweep_ends_as_an_uninterrupted_one_with_the_same_command(tmp_path, killed):
    """Killed while the group trains, the same command trains the group again (no member has written anything);
    killed among the members' runs, it keeps the finished ones and the others end as uninterrupted."""
    grid = ["-m", "seed=0,1,2", "trainer.max_epochs=8", "callbacks.early_stopping.patience=3"]
    stacked = [*grid, "hydra/launcher=stacked"]
    whole = run_script("train.py", *stacked, f"hydra.sweep.dir={tmp_path / 'whole'}", log_dir=tmp_path)
    assert whole.returncode == 0, whole.stderr[-2000:]
    sweep = tmp_path / "killed"
    signal_when = "stacking jobs" if killed == "while the group trains" else "results in"
    run_until(*stacked, f"hydra.sweep.dir={sweep}", log_dir=tmp_path, condition=lambda out: signal_when in out)
    kept = {path.parent.name: path.stat().st_mtime_ns for path in sweep.glob("*/metrics.json")}
    assert len(kept) == (0 if killed == "while the group trains" else 1)
    again = run_script("train.py", *stacked, f"hydra.sweep.dir={sweep}", log_dir=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "3 runs, 0 not finished" in again.stdout
    for name, mtime in kept.items():
        assert (sweep / name / "metrics.json").stat().st_mtime_ns == mtime
    for seed in range(3):
        job = f"{seed}_seed={seed}"
        ours, theirs = read_json(sweep / job / "metrics.json"), read_json(tmp_path / "whole" / job / "metrics.json")
        assert (ours["epochs"], ours["best_epoch"], ours["test_acc"]) == (
            theirs["epochs"],
            theirs["best_epoch"],
            theirs["test_acc"],
        )
        assert max(relative_differences(sweep / job, tmp_path / "whole" / job)) < TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("signalled_at", ["stacking jobs", "\t#1 : "])
def test_sigterm_ends_a_stacked_sweep_with_one_line_and_its_status_wherever_it_lands(tmp_path, signalled_at):
    """While the group trains (300 epochs: long enough for the signal to land there), or as the last member's
    run starts (before it, or during its replay, which is not cut): one line, status 143, the report of what
    finished; the same command then ends as an uninterrupted sweep (a member it finishes trains alone)."""
    stacked = ["-m", "seed=0,1", "trainer.max_epochs=300", "callbacks.early_stopping.patience=1000"]
    stacked += ["hydra/launcher=stacked"]
    sweep = tmp_path / "stopped"
    status, output = signalled_run(
        *stacked,
        f"hydra.sweep.dir={sweep}",
        log_dir=tmp_path,
        condition=lambda out: signalled_at in out,
        signum=signal.SIGTERM,
    )
    assert status == 128 + signal.SIGTERM and "Traceback" not in output
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    when = (
        "while jobs 0, 1 trained as one group"
        if signalled_at == "stacking jobs"
        else "(before this job started|as the sweep ended)"
    )
    assert re.fullmatch(rf"error: stopped by SIGTERM {when}: run the same command again to continue", line)
    kept = {path.parent.name: path.stat().st_mtime_ns for path in sweep.glob("*/metrics.json")}
    assert (sweep / "report.md").is_file() == bool(kept)
    again = run_script("train.py", *stacked, f"hydra.sweep.dir={sweep}", log_dir=tmp_path)
    assert again.returncode == 0 and "2 runs, 0 not finished" in again.stdout, again.stderr[-2000:]
    assert {name: (sweep / name / "metrics.json").stat().st_mtime_ns for name in kept} == kept
    whole = tmp_path / "whole"
    assert run_script("train.py", *stacked, f"hydra.sweep.dir={whole}", log_dir=tmp_path).returncode == 0
    for job in ("0_seed=0", "1_seed=1"):
        ours, theirs = read_json(sweep / job / "metrics.json"), read_json(whole / job / "metrics.json")
        assert [ours[key] for key in ("epochs", "best_epoch", "test_acc")] == [
            theirs[key] for key in ("epochs", "best_epoch", "test_acc")
        ]
        assert max(relative_differences(sweep / job, whole / job)) < LONG_RUN_TOLERANCE


def test_a_group_asked_for_autograd_steps_with_it(tmp_path):
    members = [Member(0, compose_run("train", overrides, tmp_path)) for overrides in (["classifier.step=autograd"], [])]
    for member in members:
        member.build()
    stack = Stack(members[:1])
    assert stack.gradient_step is None and stack.step_line == "training step: in a stacked group of 1, autograd"
    assert Stack(members[1:]).gradient_step is not None


def test_timing_a_group_both_ways_changes_none_of_its_members(tmp_path):
    """The launcher's measure of whether stacking pays (studykit.stacking.pays) steps copies: every member's
    weights, batch order and the global random state are as they were; an MLP group is not measured."""
    from official_formats import tiny_imdb
    from studykit.stacking.pays import stacked_step_ratio

    tiny_imdb(tmp_path / "data")
    text = ["data=imdb", f"paths.data_dir={tmp_path / 'data'}", "data.download=false", "model=textcnn"]
    text += ["model.embed_dim=4", "model.filters=4", "model.hidden=8"]
    members = [Member(seed, compose_run("train", [*text, f"seed={seed}"], tmp_path / str(seed))) for seed in (0, 1)]
    for member in members:
        member.build()
    weights = [{name: value.clone() for name, value in member.params.items()} for member in members]
    orders = [member.datamodule.order.get_state() for member in members]
    random_state = torch.get_rng_state()
    launcher = OmegaConf.create({"_target_": "stacked"})
    ratio = stacked_step_ratio(members, launcher)
    assert 0 < ratio < float("inf")
    for member, before, order in zip(members, weights, orders, strict=True):
        assert all(torch.equal(member.params[name], value) for name, value in before.items())
        assert torch.equal(member.datamodule.order.get_state(), order)
    assert torch.equal(torch.get_rng_state(), random_state)
    mlps = [Member(seed, compose_run("train", [f"seed={seed}"], tmp_path / f"mlp{seed}")) for seed in (0, 1)]
    assert stacked_step_ratio(mlps, launcher) is None


def test_a_group_that_stacking_would_slow_trains_one_job_after_another(tmp_path):
    """By default a group of networks other than MLPs stacks only where a stacked step costs less than its jobs'
    own steps. On this tiny TextCNN either can be faster; whichever the launcher measured, it says so in one
    line, and each job's results equal its run alone."""
    from official_formats import tiny_imdb

    data_dir = tmp_path / "data"
    tiny_imdb(data_dir)
    settings = ["data=imdb", f"paths.data_dir={data_dir}", "data.download=false", "model=textcnn"]
    settings += ["model.embed_dim=4", "model.filters=4", "model.hidden=8", "trainer.max_epochs=3"]
    sweep = tmp_path / "s"
    result = run_script(
        "train.py", "-m", *settings, "seed=0,1", "hydra/launcher=stacked", f"hydra.sweep.dir={sweep}", log_dir=tmp_path
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    stacked = re.search(
        r"stacking jobs 0, 1: seed 0, 1 \(a stacked step ([0-9.]+)x their own steps' time\)", result.stdout
    )
    alone = re.search(
        r"jobs 0, 1 train one by one: a stacked step took ([0-9.]+)x their own steps' time "
        r"\(hydra.launcher.stack_if=always stacks them\)",
        result.stdout,
    )
    assert (stacked is None) != (alone is None)
    assert (float((stacked or alone).group(1)) < 1) == (stacked is not None)
    assert ("stacked epoch" in result.stdout) == (stacked is not None)
    for seed in (0, 1):
        train_in_process(tmp_path / "logs" / f"alone{seed}", *settings, f"seed={seed}")
        (member,) = sweep.glob(f"{seed}_*")
        assert max(relative_differences(member, tmp_path / "logs" / f"alone{seed}")) < TOLERANCE
