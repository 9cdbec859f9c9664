"""Hydra sweeper over a current Optuna (ask and tell), `hydra/sweeper=optuna_study`; Hydra finds plugins only in
the `hydra_plugins` package, and imports them at every start, so Optuna is imported only when a search runs.
The study lives in the sweep dir, so the same command continues it (see studykit.search.optuna_study); each trial runs
as a Hydra job through the configured launcher, `n_jobs` at a time."""

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

from studykit.errors import ConfigError, require_choice, require_int_at_least
from studykit.outputs.settings import NOT_SETTINGS
from studykit.run import files, locks
from studykit.run.failures import FAILURE_FILE, Interrupted

log = logging.getLogger(__name__)


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        study_name: str,
        storage: str,
        objective: str,
        n_trials: int,
        n_jobs: int,
        sampler,
        pruner,
        params: DictConfig,
    ):
        """The settings of configs/hydra/sweeper/optuna_study.yaml, checked when the search starts (an error
        here would reach the user wrapped in Hydra's words). `pruner` is for the trials' `OptunaPruning`
        callback, which reads it from the Hydra config; the sweeper itself does not prune."""
        self.study_name, self.storage, self.objective = study_name, Path(storage), objective
        self.n_trials, self.n_jobs, self.sampler = n_trials, n_jobs, sampler
        self.queued_again: set[int] = set()  # jobs an interruption (SLURM's scancel) sent back to the queue
        self.params = OmegaConf.to_container(params or {}, resolve=True)

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        """Runs trials until `n_trials` count; a bad setting or a sweep dir in use is one line, exit status 2."""
        try:
            self._search(arguments)
        except (
            ConfigError,
            locks.DirInUse,
        ) as error:  # as the checks before Hydra report (studykit.config.command_line)
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    def _search(self, arguments: list[str]) -> None:
        import optuna

        from studykit.search import optuna_study

        require_choice("hydra.sweeper.objective", self.objective, optuna_study.OBJECTIVES)
        require_int_at_least("hydra.sweeper.n_trials", self.n_trials, 1)
        require_int_at_least("hydra.sweeper.n_jobs", self.n_jobs, 1)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # each trial gets one line of ours
        # Sweeps on the command line (`'model.act=choice(relu,tanh)'`) join or replace the configured params; a
        # single value there (`model.depth=2`) pins a configured one.
        overrides = OverridesParser.create().parse_overrides(arguments)
        searched = [override.is_sweep_override() or override.key_or_group in self.params for override in overrides]
        params = self.params | {
            override.key_or_group: argument.split("=", 1)[1]
            for override, argument, search in zip(overrides, arguments, searched, strict=True)
            if search
        }
        arguments = [argument for argument, search in zip(arguments, searched, strict=True) if not search]
        space, fixed = optuna_study.search_space(params)
        # What the study's trials share; where a run writes and how it shows progress may change between commands.
        shared = sorted(argument for argument in arguments if not argument.lstrip("+~").startswith(NOT_SETTINGS))
        settings = {"objective": self.objective, "params": params, "overrides": shared}
        sweep_dir = Path(self.config.hydra.sweep.dir)
        with locks.held(sweep_dir, "hydra.sweep.dir"):
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
            files.make_dir(self.storage.parent)
            direction = optuna_study.OBJECTIVES[self.objective]
            study = optuna_study.open_study(self.storage, self.study_name, direction, None, settings)
            study.sampler = optuna_study.reseeded_sampler(self.sampler, study)
            for number in optuna_study.retry_interrupted(study):
                log.info(f"trial {number} was left running by a killed search: marked failed, queued again")
            while (left := self.n_trials - sum(map(optuna_study.counted, study.get_trials(deepcopy=False)))) > 0:
                trials = [trial for _ in range(min(self.n_jobs, left)) if (trial := optuna_study.ask_new(study, space))]
                if not trials:
                    exhausted = optuna_study.space_exhausted(study, space)
                    tried = "every parameter set of the space" if exhausted else "only parameter sets"
                    log.info(
                        f"the search ends: the sampler proposed {tried} already tried ({left} of n_trials not run)"
                    )
                    break
                for trial in trials:
                    trial.set_user_attr(optuna_study.JOB, trial.user_attrs.get(optuna_study.JOB, trial.number))
                returns = self._launch(trials, [*fixed, *arguments])
                for trial, result in zip(trials, returns, strict=True):
                    self._tell(study, trial, result)
            self._write_results(study, sweep_dir)

    def _launch(self, trials: list, fixed: list[str]) -> list[JobReturn]:
        """One launch per run of consecutive job numbers (a retried trial keeps its old job number)."""
        from studykit.search import optuna_study

        jobs = []
        for trial in trials:
            variables = {
                optuna_study.STORAGE: str(self.storage.resolve()),
                optuna_study.STUDY: self.study_name,
                optuna_study.TRIAL: str(trial.number),
            }
            settings = [f"{key}={value}" for key, value in trial.params.items()]
            hydra_settings = [f"+hydra.job.env_set.{name}={quoted(value)}" for name, value in variables.items()]
            jobs.append((trial.user_attrs[optuna_study.JOB], [*fixed, *settings, *hydra_settings]))
        returns: list[JobReturn] = []
        for start, batch in consecutive(jobs):
            self.validate_batch_is_legal(batch)
            returns += self.launcher.launch(batch, initial_job_idx=start)
        return returns

    def _tell(self, study, trial, result: JobReturn) -> None:
        from optuna.trial import TrialState

        from studykit.search import optuna_study

        summary = result.return_value if result.status == JobStatus.COMPLETED else None
        name = f"trial {trial.number} ({', '.join(f'{k}={v}' for k, v in trial.params.items())})"
        job = trial.user_attrs[optuna_study.JOB]
        if isinstance(summary, Interrupted) and job not in self.queued_again:  # once per job and command
            self.queued_again.add(job)
            optuna_study.queue_again(study, trial)
            log.info(f"{name} was interrupted ({summary.reason.removeprefix('error: ')}): queued again")
            return
        if not isinstance(summary, dict):
            failure = Path(result.hydra_cfg.hydra.runtime.output_dir) / FAILURE_FILE if result.hydra_cfg else None
            reason = (
                failure.read_text().strip().removeprefix("error: ") if failure and failure.exists() else "no result"
            )
            trial.set_user_attr(optuna_study.FAILURE, reason)
            study.tell(trial, state=TrialState.FAIL)
            log.info(f"{name} failed: {reason}")
        elif summary.get("pruned_at_epoch"):
            study.tell(trial, state=TrialState.PRUNED)
            log.info(f"{name} pruned at epoch {summary['pruned_at_epoch']}")
        else:
            study.tell(trial, summary[self.objective])
            log.info(f"{name}: {self.objective} {summary[self.objective]:.4f}")

    def _write_results(self, study, sweep_dir: Path) -> None:
        """optimization_results.yaml: the best trial and how many trials ended how."""
        from collections import Counter

        from studykit.search import optuna_study

        states = Counter(trial.state.name.lower() for trial in study.get_trials(deepcopy=False))
        results = {"study_name": self.study_name, "storage": str(self.storage), "objective": self.objective}
        results |= {"direction": optuna_study.OBJECTIVES[self.objective], "trials": dict(states)}
        try:
            best = study.best_trial
        except ValueError:  # no trial completed
            log.info(f"no trial of {self.study_name!r} completed")
        else:
            results |= {"best_trial": best.number, "best_job": best.user_attrs[optuna_study.JOB]}
            results |= {"best_value": best.value, "best_params": best.params}
            log.info(f"best: trial {best.number}, {self.objective} {best.value:.4f}, {best.params}")
        files.write_text(sweep_dir / "optimization_results.yaml", OmegaConf.to_yaml(OmegaConf.create(results)))


def quoted(value: str) -> str:
    """A value in Hydra's override grammar, whatever its characters."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def consecutive(jobs: list[tuple[int, list[str]]]) -> list[tuple[int, Sequence[list[str]]]]:
    """`[(first job number, [overrides, ...]), ...]`: the jobs cut where their numbers stop following on."""
    runs: list[tuple[int, list[list[str]]]] = []
    for number, overrides in jobs:
        if runs and runs[-1][0] + len(runs[-1][1]) == number:
            runs[-1][1].append(overrides)
        else:
            runs.append((number, [overrides]))
    return runs
