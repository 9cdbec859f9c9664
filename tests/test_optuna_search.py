"""The Optuna search (`hparams_search=digits_optuna`, the project's sweeper over Optuna's ask and tell): its
search space, a study that persists in the sweep dir and continues, a killed trial retried from its own
checkpoint, pruning, failed trials, the joblib launcher, and optuna-dashboard on the study; each checked by
what the runs wrote and what Optuna's own storage holds."""

import sys
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from conftest import outcome, read_json, run_script, run_until
from hydra_plugins.studykit_optuna_sweeper.optuna_sweeper import consecutive
from screenshots import LoopbackServer
from studykit.errors import ConfigError
from studykit.outputs.metrics import read_history
from studykit.report.runs import job_directories
from studykit.search.optuna_study import FAILURE, JOB, journal, search_space

SEARCH = ["hparams_search=digits_optuna", "data.batch_size=128"]


def study_of(sweep):
    return optuna.load_study(study_name="digits_mlp", storage=journal(sweep / "optuna.journal"))


def test_the_search_space_is_hydra_sweep_syntax():
    space, fixed = search_space(
        {
            "optimizer.lr": "tag(log, interval(0.0001, 0.1))",
            "model.hidden": "range(8, 129, step=8)",
            "model.depth": "range(1, 4)",
            "model.act": "choice(relu, tanh)",
            "trainer.max_epochs": "3",
        }
    )
    assert space == {
        "optimizer.lr": FloatDistribution(0.0001, 0.1, log=True),
        "model.hidden": IntDistribution(8, 128, step=8),
        "model.depth": IntDistribution(1, 3),
        "model.act": CategoricalDistribution(["relu", "tanh"]),
    }
    assert fixed == ["trainer.max_epochs=3"]


@pytest.mark.parametrize(
    "text",
    [
        "range(1.5, 3)",
        "range(5, 2)",
        "interval(1, 0)",
        "choice(1, 2",
        "tag(log, interval(0, 1))",
        "shuffle(range(1, 3))",
    ],
)
def test_a_search_space_it_cannot_search_is_one_line_naming_the_key(text):
    with pytest.raises(ConfigError, match=r"hydra\.sweeper\.params\.model\.hidden") as error:
        search_space({"model.hidden": text})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0 is invalid"),
        ("hydra.sweeper.objective=test_acc", "hydra.sweeper.objective='test_acc' is invalid: accepted: val_acc"),
        ("model.hidden=range(1.5,3)", "hydra.sweeper.params.model.hidden='range(1.5,3)' is invalid"),
    ],
)
def test_a_bad_search_setting_is_one_line_before_anything_runs(tmp_path, setting, named):
    result = run_script("train.py", *SEARCH, setting, log_dir=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {named}")
    assert not (tmp_path / "search").exists()


def test_trials_go_to_the_launcher_in_runs_of_consecutive_job_numbers():
    jobs = [(3, ["a"]), (4, ["b"]), (1, ["c"]), (5, ["d"])]
    assert consecutive(jobs) == [(3, [["a"], ["b"]]), (1, [["c"]]), (5, [["d"]])]


@pytest.mark.slow
def test_the_study_persists_continues_and_extends_with_joblib_trials_side_by_side(tmp_path):
    side_by_side = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2"]
    first = run_script("train.py", *SEARCH, "hydra.sweeper.n_trials=2", *side_by_side, log_dir=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    sweep = tmp_path / "search" / "digits_mlp"
    study = study_of(sweep)
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2
    for trial in study.trials:  # each trial's value and every epoch's report come from its own job's files
        (job,) = [path for path in job_directories(sweep) if path.name.startswith(f"{trial.user_attrs[JOB]}_")]
        assert trial.value == read_json(job / "metrics.json")["val_acc"]
        history = {int(row["epoch"]): float(row["val_acc"]) for row in read_history(job / "history.csv")}
        assert trial.intermediate_values == history
    written = {path: path.stat().st_mtime_ns for path in sweep.glob("*/metrics.json")}

    again = run_script("train.py", *SEARCH, "hydra.sweeper.n_trials=2", log_dir=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(study_of(sweep).trials) == 2  # nothing re-run
    assert {path: path.stat().st_mtime_ns for path in sweep.glob("*/metrics.json")} == written

    extended = run_script("train.py", *SEARCH, "hydra.sweeper.n_trials=3", log_dir=tmp_path)
    assert extended.returncode == 0, extended.stderr[-3000:]
    study = study_of(sweep)
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 3
    # The extension draws on: a sampler seeded afresh would have replayed trial 0's parameters.
    assert len({str(sorted(trial.params.items())) for trial in study.trials}) == 3
    assert len(job_directories(sweep)) == 3
    best = read_yaml(sweep / "optimization_results.yaml")
    assert best["best_value"] == max(read_json(path)["val_acc"] for path in sweep.glob("*/metrics.json"))
    assert best["best_params"] == study.best_trial.params
    assert best["trials"] == {"complete": 3}
    summary = (sweep / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 3  # one report over all three trials

    changed = run_script("train.py", *SEARCH, "trainer.max_epochs=3", log_dir=tmp_path)
    assert changed.returncode == 2
    (line,) = [line for line in changed.stderr.splitlines() if line.startswith("error:")]
    assert "hydra.sweep.dir=" in line and "overrides: + trainer.max_epochs=3" in line
    assert len(study_of(sweep).trials) == 3

    with dashboard_server(sweep / "optuna.journal") as dashboard:
        (listed,) = dashboard.get("/api/studies")["study_summaries"]
        assert listed["study_name"] == "digits_mlp" and study.metric_names == ["val_acc"]
        trials = dashboard.get(f"/api/studies/{listed['study_id']}")["trials"]
        assert [(trial["state"], trial["values"]) for trial in trials] == [
            ("Complete", [trial.value]) for trial in study.trials
        ]


@pytest.mark.slow
def test_a_trial_killed_mid_way_is_marked_failed_and_retried_from_its_checkpoint(tmp_path):
    arguments = [*SEARCH, "hydra.sweeper.n_trials=1", "callbacks.model_checkpoint.save_every_seconds=0"]
    run_until(*arguments, log_dir=tmp_path, condition=lambda output: "Epoch 4/" in output)
    sweep = tmp_path / "search" / "digits_mlp"
    (job,) = job_directories(sweep)
    assert (job / "checkpoints" / "last.ckpt").is_file() and not (job / "metrics.json").exists()

    result = run_script("train.py", *arguments, log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    study = study_of(sweep)
    assert [trial.state for trial in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    killed, retried = study.trials
    assert FAILURE not in killed.user_attrs and retried.params == killed.params
    assert job_directories(sweep) == [job]  # the retry continued in the killed trial's dir
    assert "continuing from" in (job / "train.log").read_text()
    assert retried.value == read_json(job / "metrics.json")["val_acc"]
    # The retry reports the epochs its checkpoint brought along too, so the pruner sees every epoch.
    assert retried.intermediate_values == {
        int(row["epoch"]): float(row["val_acc"]) for row in read_history(job / "history.csv")
    }

    # It ends where an uninterrupted run of the same settings ends.
    settings = [f"{key}={value}" for key, value in retried.params.items()]
    single = run_script(
        "train.py", "data.batch_size=128", *settings, "hydra.run.dir=" + str(tmp_path / "single"), log_dir=tmp_path
    )
    assert single.returncode == 0, single.stderr[-3000:]
    assert outcome(job) == outcome(tmp_path / "single")


@pytest.mark.slow
def test_poor_trials_are_pruned_and_reported_as_pruned(tmp_path):
    pruning = ["hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=1"]
    pruning += ["hydra.sweeper.pruner.n_warmup_steps=2", "hydra.sweeper.n_trials=5", "trainer.max_epochs=8"]
    result = run_script("train.py", *SEARCH, *pruning, log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = tmp_path / "search" / "digits_mlp"
    study = study_of(sweep)
    pruned = [trial for trial in study.trials if trial.state == TrialState.PRUNED]
    assert pruned, [trial.intermediate_values for trial in study.trials]
    rows = {row.split(",")[0]: row for row in (sweep / "summary.csv").read_text().splitlines()[1:]}
    for trial in pruned:
        (job,) = [path for path in job_directories(sweep) if path.name.startswith(f"{trial.user_attrs[JOB]}_")]
        epoch = read_json(job / "metrics.json")["pruned_at_epoch"]
        assert epoch == max(trial.intermediate_values) >= 2  # not before epoch n_warmup_steps
        assert (
            len(read_history(job / "history.csv")) == epoch
        )  # it stopped there, and its best checkpoint was still tested
        assert f"pruned at epoch {epoch}" in rows[str(trial.user_attrs[JOB])]
    best = read_yaml(sweep / "optimization_results.yaml")
    assert best["trials"]["pruned"] == len(pruned)
    assert best["best_trial"] not in [trial.number for trial in pruned]


@pytest.mark.slow
def test_a_failed_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path):
    failing = ["model.act=choice(relu, nosuch)", "hydra.sweeper.n_trials=4"]  # a search dimension given here
    result = run_script("train.py", *SEARCH, *failing, "trainer.max_epochs=2", log_dir=tmp_path)
    assert result.returncode == 1  # the sweep names its failed jobs and exits 1
    study = study_of(tmp_path / "search" / "digits_mlp")
    assert len(study.trials) == 4
    for trial in study.trials:
        if trial.params["model.act"] == "nosuch":
            assert trial.state == TrialState.FAIL and "model.act" in trial.user_attrs[FAILURE]
        else:
            assert trial.state == TrialState.COMPLETE
    assert {trial.params["model.act"] for trial in study.trials} == {"relu", "nosuch"}


def read_yaml(path: Path) -> dict:
    return OmegaConf.to_container(OmegaConf.load(path))


def dashboard_server(storage) -> LoopbackServer:
    """`optuna-dashboard <journal>` on a free loopback port, as `make optuna-dashboard` starts it."""
    command = [str(Path(sys.executable).parent / "optuna-dashboard"), str(storage), "--port", "{port}"]
    return LoopbackServer(command, ready="/api/studies")


def test_a_journal_cut_mid_line_is_repaired_and_a_broken_line_is_named(tmp_path):
    """Without a search around it: the study's journal as a kill during a write leaves it, then opened again."""
    import optuna

    from studykit.search.optuna_study import open_study

    path = tmp_path / "optuna.journal"
    settings = {"objective": "val_acc", "params": {"x": "interval(0, 1)"}, "overrides": []}
    study = open_study(path, "search", "maximize", optuna.samplers.RandomSampler(seed=0), settings)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"op_code": 4, "worker_id": "w", "trial_id": 2, "sta')  # cut mid-write
    again = open_study(path, "search", "maximize", optuna.samplers.RandomSampler(seed=0), settings)
    repaired = path.read_bytes()
    assert repaired.startswith(whole) and b'"sta' not in repaired[len(whole) :] and len(again.trials) == 2
    again.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)  # appends cleanly after the repair
    assert len(open_study(path, "search", "maximize", None, settings).trials) == 3
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join([*lines[:3], b"garbage", *lines[3:]]) + b"\n")
    with pytest.raises(ConfigError, match=rf"line 4 of {path} is not an Optuna journal entry \(b'garbage'\)"):
        open_study(path, "search", "maximize", None, settings)


def test_asking_never_repeats_a_parameter_set_and_says_when_the_space_is_exhausted():
    from studykit.search.optuna_study import DUPLICATE, ask_new

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = {"act": CategoricalDistribution(["relu", "tanh"]), "depth": IntDistribution(1, 2)}
    asked = []
    while (trial := ask_new(study, space)) is not None:
        asked.append(trial.params)
        study.tell(trial, 0.5)
    assert sorted(map(str, asked)) == sorted(
        map(str, [{"act": a, "depth": d} for a in ("relu", "tanh") for d in (1, 2)])
    )  # the four sets, each once, then None
    repeats = [trial for trial in study.trials if DUPLICATE in trial.user_attrs]
    assert all(trial.state == TrialState.FAIL and trial.params in asked for trial in repeats)


@pytest.mark.slow
def test_trials_asked_together_train_as_one_stacked_group_and_are_pruned_in_it(tmp_path):
    # model.* given once pins those searched keys: only the learning rate is searched, so a batch stacks.
    model = ["model.hidden=40", "model.depth=2", "model.act=relu"]
    search = [*SEARCH, "hydra/launcher=stacked", *model]
    search += ["hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=1", "trainer.max_epochs=6"]
    search += ["hydra.sweeper.pruner.n_warmup_steps=2", "optimizer.lr=tag(log, interval(0.00001, 0.01))"]
    first = run_script("train.py", *search, "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", log_dir=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "stacking jobs 0, 1: optimizer.lr " in first.stdout
    more = run_script("train.py", *search, "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=4", log_dir=tmp_path)
    assert more.returncode == 0, more.stderr[-3000:]
    assert "stacking jobs 2, 3, 4, 5: optimizer.lr " in more.stdout
    sweep = tmp_path / "search" / "digits_mlp"
    study = study_of(sweep)
    assert all(trial.params.keys() == {"optimizer.lr"} for trial in study.trials)
    pruned = [trial for trial in study.trials if trial.state == TrialState.PRUNED]
    assert pruned and all(trial.number >= 2 for trial in pruned), [trial.state for trial in study.trials]
    for trial in study.trials:  # what the group reported and decided for each member is what its job wrote
        (job,) = [path for path in job_directories(sweep) if path.name.startswith(f"{trial.user_attrs[JOB]}_")]
        metrics, history = read_json(job / "metrics.json"), read_history(job / "history.csv")
        assert OmegaConf.load(job / "config.yaml").model.hidden == 40
        assert trial.intermediate_values == {int(row["epoch"]): float(row["val_acc"]) for row in history}
        if trial.state == TrialState.PRUNED:
            assert metrics["pruned_at_epoch"] == len(history) == max(trial.intermediate_values) >= 2
        else:
            assert "pruned_at_epoch" not in metrics and trial.value == metrics["val_acc"]
    (trial,) = [trial for trial in study.trials if trial.number == 0]
    (job,) = [path for path in job_directories(sweep) if path.name.startswith("0_")]
    alone = run_script(
        "train.py",
        *SEARCH[1:],
        *model,
        "trainer.max_epochs=6",
        f"optimizer.lr={trial.params['optimizer.lr']!r}",
        f"hydra.run.dir={tmp_path / 'alone'}",
        log_dir=tmp_path,
    )
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert read_json(job / "metrics.json")["test_acc"] == read_json(tmp_path / "alone" / "metrics.json")["test_acc"]
