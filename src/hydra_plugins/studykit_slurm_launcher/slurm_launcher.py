"""Hydra launcher `hydra/launcher=slurm`: hydra-submitit-launcher's SLURM launcher, which first checks in one line
what SLURM would refuse or run wrongly only once the jobs are queued: a time limit below a minute, a partition
the cluster does not have, or tasks per node other than the ranks of a job (SLURM starts one task per rank; one
task too many runs the same job twice). A job SLURM ends without a result (`scancel`, a node lost, out of memory)
is one line in its dir's failure.txt, as a failed run's: the sweep still writes its report and ends with status
1, and the same command finishes that job from its last checkpoint (the plugin's own launch would end the sweep
with submitit's error and no report).

    python src/train.py -m hydra/launcher=slurm hydra.launcher.partition=gpu model.hidden=10,40
"""

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)
EXECUTOR_KEYS = ("submitit_folder", "max_num_timeout")  # the executor's own settings, not sbatch's


class SlurmLauncher(SubmititSlurmLauncher):
    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Also checks the settings (`check`): the sweeper sets its launcher up before it writes anything."""
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.check()

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        numbers = list(range(initial_job_idx, initial_job_idx + len(job_overrides)))
        for number, overrides in zip(numbers, job_overrides, strict=True):
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
        count = len(numbers)
        jobs = self.submit(
            self,
            [list(overrides) for overrides in job_overrides],
            ["hydra.sweep.dir"] * count,
            numbers,
            [f"job_id_for_{number}" for number in numbers],
            [Singleton.get_state()] * count,
        )
        members = zip(jobs, job_overrides, numbers, strict=True)
        return [result for job, overrides, number in members for result in self.outcomes(job, [(overrides, number)])]

    def check(self) -> None:
        """`check_resources`, as one line and exit status 2 before anything is submitted."""
        from studykit.errors import ConfigError

        try:
            check_resources(self.params, self.config)
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    def submit(self, function, *arguments: list) -> list:
        """`function` over `arguments` as one SLURM array, with the plugin's executor settings (as its own launch
        submits its jobs); the submitit jobs."""
        import submitit

        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params["max_num_timeout"],
        )
        queue_keys = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                key if key in queue_keys else f"{self._EXECUTOR}_{key}": value
                for key, value in self.params.items()
                if key not in EXECUTOR_KEYS
            }
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        return executor.map_array(function, *arguments)

    def outcomes(self, job, members: list[tuple[Sequence[str], int]]) -> list[JobReturn]:
        """The results of the Hydra jobs `members` (overrides, number) that SLURM `job` ran; where SLURM ended it
        without a result, each member's line in its dir's failure.txt, and `Interrupted`."""
        from submitit.core.utils import UncompletedJobError

        try:
            result = job.results()[0]
            return result if isinstance(result, list) else [result]
        except UncompletedJobError:
            line = f"error: SLURM ended job {job.job_id} without a result (state {job.state})"
        except Exception as error:  # the job's process failed outside the run (its traceback is in its log)
            line = f"error: SLURM job {job.job_id} failed: {str(error).splitlines()[0]}"
        return [self._interrupted(overrides, number, line) for overrides, number in members]

    def _interrupted(self, overrides: Sequence[str], number: int, line: str) -> JobReturn:
        from studykit.run.failures import Interrupted, record_failure
        from studykit.run.job_names import job_dir

        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(sweep_config):
            sweep_config.hydra.job.num = number
            sweep_config.hydra.runtime.output_dir = str(job_dir(sweep_config))  # where a search reads the line
        directory = Path(sweep_config.hydra.runtime.output_dir)
        directory.mkdir(parents=True, exist_ok=True)
        line = f"{line}; run the same command again to finish it"
        record_failure(directory, line)
        interrupted = Interrupted(line)
        return JobReturn(list(overrides), hydra_cfg=sweep_config, status=JobStatus.COMPLETED, _return_value=interrupted)


def check_resources(params: dict, config: DictConfig) -> None:
    from studykit.errors import ConfigError, is_int

    timeout = params.get("timeout_min")
    if not (is_int(timeout) and timeout >= 1):
        raise ConfigError("hydra.launcher.timeout_min", timeout, "a job's time limit in minutes, an integer >= 1")
    devices, tasks = config.trainer.get("devices", 1), params.get("tasks_per_node")
    if is_int(devices) and tasks != devices:
        raise ConfigError(
            "hydra.launcher.tasks_per_node",
            tasks,
            f"SLURM starts one task per rank of a job: set it to trainer.devices ({devices})",
        )
    partition = params.get("partition")
    if partition is not None and shutil.which("sinfo"):
        listed = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=30)
        partitions = sorted(set(listed.stdout.split()))
        if listed.returncode == 0 and partitions and partition not in partitions:
            raise ConfigError("hydra.launcher.partition", partition, f"this cluster has {', '.join(partitions)}")
