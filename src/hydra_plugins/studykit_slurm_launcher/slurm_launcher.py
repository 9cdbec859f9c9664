"""Hydra launcher `hydra/launcher=slurm`: hydra-submitit-launcher's SLURM launcher, which first checks in one line
what SLURM would refuse or run wrongly only once the jobs are queued: a time limit below a minute, a partition
the cluster does not have, or tasks per node other than the ranks of a job (SLURM starts one task per rank; one
task too many runs the same job twice).

    python src/train.py -m hydra/launcher=slurm hydra.launcher.partition=gpu model.hidden=10,40
"""

import shutil
import subprocess
import sys
from collections.abc import Sequence

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import DictConfig


class SlurmLauncher(SubmititSlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from studykit.errors import ConfigError

        try:
            check_resources(self.params, self.config)
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)  # before anything is submitted
            sys.exit(2)
        return super().launch(job_overrides, initial_job_idx)


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
