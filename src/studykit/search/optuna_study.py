"""An Optuna study kept in a sweep dir (a journal file), for `hydra/sweeper=optuna_study`.

The search space is written in Hydra's sweep syntax; a study continued by a later command must have been
started with the same settings; the trials a killed search left running are marked failed and queued again
with the same parameters and job dir, so they continue from their own checkpoints. A trial's job learns which
trial it is from three environment variables (`TRIAL_VARIABLES`), which the sweeper sets for it through
`hydra.job.env_set`.
"""

import json
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
from hydra.errors import HydraException
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from studykit.errors import ConfigError

# What a trial is measured by (a key of metrics.json, also logged every epoch), and which way is better.
OBJECTIVES = {"val_acc": "maximize", "val_loss": "minimize"}
STORAGE, STUDY, TRIAL = TRIAL_VARIABLES = ("STUDYKIT_OPTUNA_STORAGE", "STUDYKIT_OPTUNA_STUDY", "STUDYKIT_OPTUNA_TRIAL")
JOB = "job"  # a trial's user attribute: the number of the job (and of its dir) it runs in
FAILURE = "failure"  # a trial's user attribute: why its job failed
DUPLICATE = "duplicate_of"  # a trial's user attribute: a sampler's repeat of an earlier trial's parameters
SETTINGS = "settings"  # the study's user attribute: what its trials share, which a continuation must keep
log = logging.getLogger(__name__)
SPACE_SYNTAX = "choice(a, b), range(start, stop, step=s), interval(low, high), tag(log, interval(low, high))"


def journal(path: Path) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def search_space(params: dict) -> tuple[dict[str, BaseDistribution], list[str]]:
    """`{key: distribution}` for the searched keys of `hydra.sweeper.params`, and the others as overrides."""
    parser = OverridesParser.create()
    space, fixed = {}, []
    for key, text in params.items():
        try:
            override = parser.parse_override(f"{key}={text}")
        except HydraException as error:
            raise ConfigError(f"hydra.sweeper.params.{key}", text, f"{error}; accepted: {SPACE_SYNTAX}") from None
        if override.is_sweep_override():
            space[key] = distribution(f"hydra.sweeper.params.{key}", text, override.value())
        else:
            fixed.append(f"{key}={text}")
    return space, fixed


def distribution(key: str, text: str, sweep) -> BaseDistribution:
    """Hydra's `choice` is a categorical; `range` (stop excluded, as Python's) an integer grid; `interval` a
    float range, on a log scale with the `log` tag."""
    if isinstance(sweep, ChoiceSweep) and not sweep.shuffle:
        if any(isinstance(value, (list, dict)) for value in sweep.list):
            raise ConfigError(key, text, "choices must be single values")
        return CategoricalDistribution(sweep.list)
    if isinstance(sweep, RangeSweep) and not sweep.shuffle:
        bounds = (sweep.start, sweep.stop, sweep.step)
        if not all(isinstance(number, int) for number in bounds) or sweep.step < 1 or sweep.start >= sweep.stop:
            raise ConfigError(key, text, "range(start, stop, step=s) needs integers, start < stop and step >= 1")
        last = sweep.start + (sweep.stop - 1 - sweep.start) // sweep.step * sweep.step
        return IntDistribution(sweep.start, last, step=sweep.step)
    if isinstance(sweep, IntervalSweep):
        log = "log" in sweep.tags
        if sweep.start >= sweep.end or (log and sweep.start <= 0):
            raise ConfigError(key, text, "interval(low, high) needs low < high (and low > 0 on a log scale)")
        return FloatDistribution(sweep.start, sweep.end, log=log)
    raise ConfigError(key, text, f"accepted: {SPACE_SYNTAX}, or a fixed value")


def check_journal(path: Path) -> None:
    """A journal is JSON lines, appended one at a time. A last line cut short (a kill mid-write) is dropped, with
    a warning, before anything appends after it (which would make it a broken line in the middle); a broken
    line anywhere else is a `ConfigError` naming it, and the file is left as it is."""
    if not path.is_file():
        return
    content = path.read_bytes()
    if content and not content.endswith(b"\n"):
        complete = content[: content.rfind(b"\n") + 1]
        with open(path, "r+b") as journal_file:
            journal_file.truncate(len(complete))
        log.warning(
            f"warning: {path}: dropped its last line, cut short by a kill during a write "
            f"({len(content) - len(complete)} bytes); the trial it recorded is retried if it was not finished"
        )
        content = complete
    for number, line in enumerate(content.splitlines(), start=1):
        try:
            json.loads(line)
        except ValueError:
            raise ConfigError(
                "hydra.sweep.dir",
                str(path.parent),
                f"line {number} of {path} is not an Optuna journal entry ({line[:40]!r}); restore the file from a "
                "copy, or give another hydra.sweep.dir",
            ) from None


def open_study(path: Path, name: str, direction: str, sampler, settings: dict) -> optuna.Study:
    """The study `name` in the journal file `path` (checked first, see `check_journal`), created if new; one that
    exists must have been started with the same `settings` (search space, objective, fixed overrides)."""
    check_journal(path)
    study = optuna.create_study(
        storage=journal(path), study_name=name, direction=direction, sampler=sampler, load_if_exists=True
    )
    before = study.user_attrs.get(SETTINGS)
    if before is None:
        study.set_user_attr(SETTINGS, settings)
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2, and stable in use since
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([settings["objective"]])  # optuna-dashboard's name for the values
    elif before != settings:
        raise ConfigError(
            "hydra.sweep.dir",
            str(path.parent),
            f"its study {name!r} was started with other settings ({'; '.join(differences(before, settings))}); "
            "continue it with the same settings, or give another hydra.sweep.dir",
        )
    return study


def differences(before: dict, now: dict) -> list[str]:
    """What changed between two studies' `SETTINGS`, shortly: `overrides: + trainer.max_epochs=3`."""
    lines = []
    if before["objective"] != now["objective"]:
        lines.append(f"objective {before['objective']} then, {now['objective']} now")
    for key in sorted(before["params"].keys() | now["params"].keys()):
        if before["params"].get(key) != now["params"].get(key):
            lines.append(f"params.{key} {before['params'].get(key)} then, {now['params'].get(key)} now")
    added = sorted(set(now["overrides"]) - set(before["overrides"]))
    removed = sorted(set(before["overrides"]) - set(now["overrides"]))
    if added or removed:
        lines.append("overrides: " + " ".join([*(f"+ {item}" for item in added), *(f"- {item}" for item in removed)]))
    return lines


def reseeded_sampler(sampler_factory, study: optuna.Study):
    """The configured sampler (a partial), its `seed` (where it has one) moved on by the trials the study holds:
    a continued search draws on from where it was instead of replaying its first draws."""
    seed = sampler_factory.keywords.get("seed")
    if seed is None:
        return sampler_factory()
    return sampler_factory(seed=(seed + len(study.trials)) % 2**32)


def tried(study: optuna.Study) -> dict[int, dict]:
    """Trial number -> parameters, of the trials that count (see `counted`) or are under way."""
    trials = study.get_trials(deepcopy=False)
    return {trial.number: trial.params for trial in trials if counted(trial) or trial.state == TrialState.RUNNING}


def space_size(space: dict[str, BaseDistribution]) -> int | None:
    """How many parameter sets a space holds; None when it has a continuous dimension."""
    size = 1
    for distribution in space.values():
        if isinstance(distribution, CategoricalDistribution):
            size *= len(distribution.choices)
        elif isinstance(distribution, IntDistribution) and not distribution.log:
            size *= (distribution.high - distribution.low) // distribution.step + 1
        else:
            return None
    return size


def space_exhausted(study: optuna.Study, space: dict[str, BaseDistribution]) -> bool:
    """Every parameter set of a finite space tried (by trials that count or run)."""
    size = space_size(space)
    return size is not None and len({tuple(sorted(params.items())) for params in tried(study).values()}) >= size


def ask_new(study: optuna.Study, space: dict[str, BaseDistribution], attempts: int = 100) -> optuna.Trial | None:
    """A trial whose parameters no trial that counts or runs has; None when the space holds no other set, or the
    sampler proposed only tried sets `attempts` times in a row. A sampler's repeat is closed as failed with the
    user attribute `DUPLICATE` (the trial it repeats) and does not count toward `n_trials`."""
    for _ in range(attempts):
        if space_exhausted(study, space):
            return None
        seen = tried(study)
        trial = study.ask(space)
        repeated = [number for number, params in seen.items() if params == trial.params]
        if not repeated:
            return trial
        trial.set_user_attr(DUPLICATE, repeated[0])
        study.tell(trial, state=TrialState.FAIL)
    return None


def retry_interrupted(study: optuna.Study) -> list[int]:
    """Trials left running by a killed search, queued again (`queue_again`). Their numbers."""
    interrupted = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in interrupted:
        queue_again(study, trial)
    return [trial.number for trial in interrupted]


def queue_again(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> None:
    """An interrupted trial marked failed (not counting toward n_trials) and queued again with its parameters
    and job, so its job dir (and its last checkpoint) is used again."""
    study.tell(trial.number, state=TrialState.FAIL)
    study.enqueue_trial(trial.params, user_attrs={JOB: trial.user_attrs.get(JOB, trial.number)})


def counted(trial: FrozenTrial) -> bool:
    """Trials that count toward `n_trials`: complete, pruned, or failed in their job (`FAILURE` says why); a
    trial failed because its search was killed is retried instead."""
    if trial.state == TrialState.FAIL:
        return FAILURE in trial.user_attrs
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED)


def job_trial(pruner, environment: Mapping[str, str] = os.environ) -> optuna.Trial | None:
    """In a job the sweeper started (its variables in `environment`): its trial, in a study that prunes with
    `pruner`; elsewhere None."""
    if TRIAL not in environment:
        return None
    study = optuna.load_study(study_name=environment[STUDY], storage=journal(environment[STORAGE]), pruner=pruner)
    # Optuna has no public lookup of a running trial by its number (what `study.tell` does inside).
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, int(environment[TRIAL]))
    return optuna.Trial(study, trial_id)
