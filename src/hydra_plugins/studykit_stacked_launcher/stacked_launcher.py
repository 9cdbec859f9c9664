"""Hydra launcher `hydra/launcher=stacked`: the jobs of a multirun that differ only in their seed, optimizer
hyper-parameters or early stopping train together as one stacked group (studykit.stacking), then each job runs
as a single run that replays its part, so every job ends with a single run's files in its own dir.

    python src/train.py -m 'seed=range(0,20)' hydra/launcher=stacked
    python src/train.py -m experiment=digits_cases hydra/launcher=stacked hydra.launcher.max_members=8

A job that cannot stack (see studykit.stacking.groups.why_alone), has a bad value, or whose dir already holds a
run (a re-launched sweep) runs alone, exactly as under the basic launcher.
"""

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)
STACK_IF = ("faster", "always")


class StackedLauncher(Launcher):
    def __init__(
        self,
        max_members: int | None = None,
        stack_if: str = "faster",
        processes: int | None = None,
        slurm: Launcher | None = None,
    ):
        """`max_members`: the most jobs one group trains at once (null: as many as a quarter of the free memory
        holds); a larger group is split. `stack_if`: `faster` trains a group whose network is not an MLP one job
        after another where a few steps timed both ways say stacking is slower (studykit.stacking.pays);
        `always` stacks it regardless. `processes`: how many processes share the groups' parts, side by side
        (studykit.stacking.lanes; null: one per idle core; 1: all in this one). `slurm`: the project's SLURM
        launcher (hydra/launcher=stacked_slurm): each group, and each job that trains alone, is then one SLURM job;
        None: all here, one after another."""
        self.max_members, self.stack_if, self.processes = max_members, stack_if, processes
        self.slurm = slurm
        self.members: dict = {}
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Also checks the launcher's settings: the sweeper sets it up before it writes anything."""
        from studykit.config.sweep_configs import SweepConfigs
        from studykit.errors import ConfigError, is_int

        if self.max_members is not None and not (is_int(self.max_members) and self.max_members >= 2):
            error = ConfigError("hydra.launcher.max_members", self.max_members, "must be null or an integer >= 2")
            print(f"error: {error}", file=sys.stderr)  # as the checks before Hydra report
            sys.exit(2)
        if self.processes is not None and not (is_int(self.processes) and self.processes >= 1):
            error = ConfigError("hydra.launcher.processes", self.processes, "must be null or an integer >= 1")
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        if self.stack_if not in STACK_IF:
            error = ConfigError("hydra.launcher.stack_if", self.stack_if, "accepted: " + ", ".join(STACK_IF))
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function
        self.configs = SweepConfigs(hydra_context.config_loader)
        if self.slurm is not None:
            self.slurm.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from studykit.stacking.groups import stack_groups

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = {}
        for number, overrides in enumerate(job_overrides, start=initial_job_idx):
            sweep_config = self.configs.take(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = sweep_config.hydra.job.num = number
            jobs[number] = (overrides, sweep_config, task_config(sweep_config))
        groups = stack_groups({number: self._key(config, task) for number, (_, config, task) in jobs.items()})
        if self.slurm is None:
            return self._run(jobs, groups)
        return self._run_on_slurm(jobs, groups)

    def _run(self, jobs: dict, groups: list[list[int]]) -> list[JobReturn]:
        """The groups trained, then each job run as a single run replaying its part (a job alone trains). Where
        the parts can be shared among processes (studykit.stacking.lanes), each further share is trained and
        run in a process of its own, side by side, and the jobs alone run here after this process's share."""
        from studykit.run import stopping
        from studykit.run.failures import stop
        from studykit.run.stopping import StopRequested
        from studykit.run.threads import set_threads
        from studykit.stacking import lanes

        stopping.install()  # a stop while a group trains ends the sweep with its report, as during a job
        if lanes.can_fork():  # until then: OpenMP's threads, once started, do not work in a forked process
            set_threads(1)
        parts = self._parts(jobs, groups)
        shares = lanes.spread(parts, self._processes(parts))
        if len(shares) < 2:
            return list(self._run_jobs(jobs, list(jobs), self._train_parts(jobs, parts, processes=1)).values())
        numbers = [_jobs_of(share) for share in shares]
        side = []
        for index, share in enumerate(shares[1:], start=1):
            log.info(f"jobs {_numbers(numbers[index])} train in process {index + 1} of {len(shares)}; its lines follow")
            work = lambda share=share: list(self._share(jobs, share, len(shares)).values())  # noqa: E731
            side.append(lanes.fork(numbers[index], work))
        runs = self._share(jobs, shares[0], len(shares))
        in_shares = {number for share in numbers for number in share}
        runs |= self._run_jobs(jobs, [number for number in jobs if number not in in_shares], {})
        for lane in side:
            returns = lanes.collect(lane)
            if signum := stopping.requested():
                stop(StopRequested(signum, f"while jobs {_numbers(lane.numbers)} trained"), single_run=False)
            runs |= dict(zip(lane.numbers, returns, strict=True)) if returns else self._run_jobs(jobs, lane.numbers, {})
        return [runs[number] for number in sorted(runs)]

    def _share(self, jobs: dict, share: list[list[int]], processes: int) -> dict[int, JobReturn]:
        """The parts of `share` trained on this process's share of the cores (one of `processes`), then their
        jobs run."""
        return self._run_jobs(jobs, _jobs_of(share), self._train_parts(jobs, share, processes))

    def _run_jobs(self, jobs: dict, numbers: list[int], records: dict) -> dict[int, JobReturn]:
        """Each of `numbers` run as a single run, replaying its record where it has one."""
        from studykit.stacking.replay import replaying

        runs = {}
        for number in numbers:
            overrides, sweep_config, _ = jobs[number]
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            with replaying(records.get(number)):
                runs[number] = run_job(
                    hydra_context=self.hydra_context,
                    task_function=self.task_function,
                    config=sweep_config,
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs

    def _processes(self, parts: list[list[int]]) -> int:
        """How many processes share `parts`: hydra.launcher.processes, else one per idle core (1 where they make
        one share whatever the count)."""
        from studykit.run.threads import idle_cores
        from studykit.stacking.lanes import can_fork, could_share

        if not can_fork() or not could_share(parts):
            return 1
        return self.processes or idle_cores()

    def _run_on_slurm(self, jobs: dict, groups: list[list[int]]) -> list[JobReturn]:
        """One SLURM job per group (all of them one array), each running `_run` for its jobs."""
        for group in groups:
            log.info(f"jobs {_numbers(group)}: one SLURM job")
        parts = [{number: jobs[number] for number in group} for group in groups]
        submitted = self.slurm.submit(self._run_in_job, parts, [Singleton.get_state()] * len(parts))
        results = {}
        for job, group in zip(submitted, groups, strict=True):
            outcomes = self.slurm.outcomes(job, [(jobs[number][0], number) for number in group])
            results |= dict(zip(group, outcomes, strict=True))
        return [results[number] for number in sorted(results)]

    def _run_in_job(self, jobs: dict, singleton_state: dict) -> list[JobReturn]:
        """Inside a SLURM job: its group trained (or its one job run) and each job's files written."""
        Singleton.set_state(singleton_state)
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return self._run(jobs, [list(jobs)])

    def _parts(self, jobs: dict, groups: list[list[int]]) -> list[list[int]]:
        """The groups of more than one job, each cut into parts of at most hydra.launcher.max_members jobs (null:
        as many as memory holds); a group that cannot be built runs one job after another."""
        from studykit.stacking.fit import members_that_fit

        parts = []
        for group in groups:
            if len(group) < 2:
                continue
            try:
                first = self._member(jobs, group[0])
                cap = self.max_members or members_that_fit(first)
            except Exception as error:  # each job then runs alone and meets the same problem in its own run
                log.warning(f"warning: jobs {_numbers(group)} run one by one: {type(error).__name__}: {error}")
                continue
            parts += [group[start : start + cap] for start in range(0, len(group), cap)]
        return [part for part in parts if len(part) >= 2]

    def _member(self, jobs: dict, number: int):
        """Job `number` as a group member, made once (the first of a group is built to size the parts)."""
        from studykit.stacking.fit import Member

        if number not in self.members:
            self.members[number] = Member(number, jobs[number][2], environment=_environment(jobs[number][1]))
        return self.members[number]

    def _train_parts(self, jobs: dict, parts: list[list[int]], processes: int) -> dict:
        """Every part trained as one group (`processes`: how many share the cores); job number -> what its run
        replays."""
        from studykit.run.failures import stop
        from studykit.run.stopping import StopRequested
        from studykit.stacking.fit import fit_group
        from studykit.stacking.groups import group_key
        from studykit.stacking.pays import stacked_step_ratio

        records = {}
        ratios = {}  # a stacked step's time over the jobs' own, measured on a group's first part here
        launcher = self.config.hydra.launcher
        for numbers in parts:
            try:
                part = [self._member(jobs, number) for number in numbers]
                key = group_key(jobs[numbers[0]][2])
                if self.stack_if == "faster" and key not in ratios:
                    ratios[key] = stacked_step_ratio(part, launcher)
                ratio = ratios.get(key)
                if ratio is not None and ratio >= 1:
                    log.info(
                        f"jobs {_numbers(numbers)} train one by one: a stacked step took {ratio:.2f}x their own"
                        " steps' time (hydra.launcher.stack_if=always stacks them)"
                    )
                    continue
                measured = f" (a stacked step {ratio:.2f}x their own steps' time)" if ratio is not None else ""
                log.info(f"stacking jobs {_numbers(numbers)}: {_differences([jobs[n][0] for n in numbers])}{measured}")
                records |= fit_group(part, launcher, processes)
            except StopRequested as error:
                stop(error, single_run=False)
            except Exception as error:  # each job then runs alone and meets the same problem in its own run
                log.warning(f"warning: jobs {_numbers(numbers)} run one by one: {type(error).__name__}: {error}")
            finally:
                for number in numbers:  # its data and weights let go
                    self.members.pop(number, None)
        return records

    def _key(self, sweep_config: DictConfig, task: DictConfig) -> str | None:
        """The job's group key; None where it runs alone: a bad value (its run says which), a dir that holds a
        run already, or settings that cannot stack."""
        from studykit.config.values import check_values
        from studykit.stacking.groups import group_key

        if (Path(sweep_config.hydra.runtime.output_dir) / "config.yaml").exists():
            return None
        try:
            check_values(task, sweep_config.hydra.job.config_name, list(sweep_config.hydra.overrides.task))
            return group_key(task)
        except Exception:
            return None


def _environment(sweep_config: DictConfig) -> dict[str, str]:
    return {str(name): str(value) for name, value in (sweep_config.hydra.job.get("env_set") or {}).items()}


def task_config(sweep_config: DictConfig) -> DictConfig:
    """The job's own config, resolved as its run will see it in its dir (the dir run_job gives it), without the
    `hydra` node."""
    from hydra.core.hydra_config import HydraConfig

    from studykit.run.job_names import job_dir

    with read_write(sweep_config.hydra.runtime), open_dict(sweep_config.hydra.runtime):
        sweep_config.hydra.runtime.output_dir = str(job_dir(sweep_config))
    HydraConfig.instance().set_config(sweep_config)
    task = OmegaConf.masked_copy(sweep_config, [key for key in sweep_config.keys() if key != "hydra"])
    OmegaConf.resolve(task)
    return task


def _jobs_of(share: list[list[int]]) -> list[int]:
    """The job numbers of a share's parts, in order."""
    return sorted(number for part in share for number in part)


def _numbers(group: list[int]) -> str:
    return ", ".join(map(str, group)) if len(group) <= 8 else f"{group[0]}-{group[-1]} ({len(group)} jobs)"


def _differences(overrides: list[Sequence[str]]) -> str:
    """What the stacked jobs' command lines vary, e.g. `seed 0..19` or `optimizer.lr 0.001, 0.01`."""
    values: dict[str, list[str]] = {}
    for job in overrides:
        for item in job:
            key, _, value = item.partition("=")
            values.setdefault(key, []).append(value)
    varied = {
        key: list(dict.fromkeys(found))
        for key, found in values.items()
        if len(set(found)) > 1 and not key.lstrip("+~").startswith("hydra.")  # a search's trial numbers
    }
    return (
        "; ".join(f"{key} {', '.join(found[:6])}{', ...' if len(found) > 6 else ''}" for key, found in varied.items())
        or "the same settings"
    )
