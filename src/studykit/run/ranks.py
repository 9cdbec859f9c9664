"""Which rank this process is, and DDP inside a multirun.

Before Lightning is imported, the rank is read from the environment as Lightning reads it (`process_rank`);
cutting the data among ranks asks torch's process group (`rank_in_process_group`); Lightning's hooks use
`trainer.is_global_zero` and `rank_zero_only`, which read the same variables.

DDP inside a multirun: Lightning starts a job's other ranks by running the command line again, `-m` and the
whole grid included, so each extra rank would run the sweep again. Instead, the job's rank 0 names its job in
the environment the other ranks inherit, and each of them runs that one job, in the job's dir, where it writes
nothing but its own log (`train_ddp_process_<rank>.log`)."""

import json
import os
from pathlib import Path

RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")  # in the order Lightning reads them
JOB_VARIABLE = "STUDYKIT_DDP_JOB"
# What Lightning's launcher sets in the process of rank 0 when it starts the other ranks; while they are set,
# Lightning takes the other ranks as started by someone else, and starts none.
LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
_before_first_job: dict[str, str | None] = {}


def process_rank() -> int:
    """This process's rank as distributed launchers announce it (0 outside distributed runs)."""
    return next((int(os.environ[name]) for name in RANK_VARIABLES if name in os.environ), 0)


def rank_in_process_group() -> tuple[int, int]:
    """`(rank, world size)` of torch's process group, once DDP has formed it; `(0, 1)` otherwise."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def announce_job(task_overrides: list[str], output_dir: Path) -> None:
    """In a multirun's job, before fitting starts the job's other ranks. The previous job's ranks have ended:
    its process group and launch settings go too, so that this job's ranks are started and form theirs."""
    import torch  # here: train.py reads this module before it imports torch, to start in about a second

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    if not _before_first_job:
        _before_first_job.update({name: os.environ.get(name) for name in LAUNCH_VARIABLES})
    for name, value in _before_first_job.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    os.environ[JOB_VARIABLE] = json.dumps({"overrides": task_overrides, "dir": str(output_dir)})


def rank_command_line(argv: list[str]) -> list[str]:
    """`argv`, or in a process Lightning started for another rank of a multirun's job, that job's own command
    line: its overrides, its dir, one run."""
    rank = process_rank()
    if rank == 0 or JOB_VARIABLE not in os.environ:
        return argv
    job = json.loads(os.environ[JOB_VARIABLE])
    hydra = [f'hydra.run.dir="{job["dir"]}"', "hydra.mode=RUN", "hydra.output_subdir=null"]
    logging = [f"hydra.job.name=train_ddp_process_{rank}", "hydra.job_logging.root.handlers=[file]"]
    return [argv[0], *job["overrides"], *hydra, *logging]
