"""Process-wide torch settings for a run: the CPU thread count, and Lightning's per-step CUDA probe.

Thread rule (`threads=null`): one thread below SECOND_THREAD_FLOPS of forward work in a training batch, else
one per FLOPS_PER_THREAD and at least two; at most the cores of this process's CPU set that other processes
leave idle (and, under the joblib launcher, its share of them). Chosen from step timings on 2-core VMs: when
the rule was designed (autograd's step, not kept as a script) the digits MLP (0.3 MFLOP) and the MNIST MLP at
batch 32 (7.6 MFLOP) were no faster on two threads, from about 15-20 MFLOP a second thread paid (1.3x at 30,
1.6x at 43 and for the CNNs), and a second thread on a core another process kept busy made every step 2-5
times slower. Since then an MLP's step costs less around its arithmetic (studykit.steps) and a second thread
pays from the MNIST MLP on: its template epoch took 670 ms on one thread and 475 ms on two, the hand loop's 890
and 718 (paired epochs, scripts/benchmark_speed.py's probe, AMD EPYC, 2026-12-01; an Intel Xeon host had given
the hand loop 3.0-3.1 s on one and 2.3-2.9 s on two); a stacked group of twenty digits MLPs (6 MFLOP) took the
same time on one and two threads. scripts/benchmark_speed.py re-measures what the rule decides for the studies
(the MNIST MLP beside a hand loop on 1 and on 2 threads, net_1 on 2, the digits MLP beside a busy process;
README "Speed").
"""

import os
import time

import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from studykit.models.eval_mode import eval_mode

SECOND_THREAD_FLOPS = 3.5e6
FLOPS_PER_THREAD = 20e6
BUSY = 0.5  # a core counts as taken when other processes keep it busy more than this share of the time


def prepare_torch() -> None:
    """Drop Lightning's NVML-based CUDA check where there is no GPU: Lightning turns it on at import for fork
    safety, and then every Adam step probes for the NVIDIA library again (about 0.1 ms a step, measured on this
    project's CPU machine)."""
    if not torch.cuda.is_available():
        os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)


def forward_flops(network: nn.Module, example: Tensor) -> int:
    """Floating-point operations of one forward pass over `example` (a batch of any size)."""
    with eval_mode(network), FlopCounterMode(display=False) as counter:
        network(example)
    return counter.get_total_flops()


def threads_for_run(network: nn.Module, datamodule, trainer, launcher: DictConfig) -> int:
    """The thread rule for this run: the forward work of one training batch of `datamodule` (its splits
    loaded), shared among the job's training processes on this machine (DDP ranks on CPUs)."""
    example, _ = datamodule.transform(tuple(tensor[:1] for tensor in datamodule.splits["train"]), training=False)
    flops = forward_flops(network, example) * datamodule.batch_size
    processes = trainer.num_devices if trainer.strategy.root_device.type == "cpu" else 1
    return choose_threads(flops, launcher, processes)


def choose_threads(flops_per_batch: float, launcher: DictConfig, processes: int = 1) -> int:
    """`processes`: training processes of this job on this machine (DDP ranks on CPUs), sharing its cores."""
    if flops_per_batch < SECOND_THREAD_FLOPS:
        return 1
    wanted = max(2, int(flops_per_batch // FLOPS_PER_THREAD))
    return max(1, min(wanted, idle_cores() // processes, threads_per_job(launcher) // processes))


def set_threads(threads: int) -> None:
    """Also exported as OMP_NUM_THREADS, which Lightning's DDP launcher honours (it would otherwise give every
    process its share of all cores) and the processes it starts inherit."""
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def threads_per_job(launcher: DictConfig) -> int:
    """For jobs run side by side on this machine (Hydra's joblib launcher): the cores divided among them, so
    jobs x threads <= cores; otherwise all of them."""
    cores = len(_cpu_set())
    if "joblib" not in str(launcher.get("_target_", "")).lower():
        return cores
    jobs = launcher.n_jobs if launcher.n_jobs > 0 else cores + 1 + launcher.n_jobs  # joblib: -1 = all cores
    return max(1, cores // max(1, min(jobs, cores)))


def idle_cores(seconds: float = 0.05) -> int:
    """Cores of this process's CPU set that other processes leave mostly idle, from two readings of the
    kernel's per-core counters `seconds` apart (this process sleeps in between). Where /proc/stat cannot be
    read, every core counts as idle."""
    cpus = _cpu_set()
    try:
        before = _cpu_times()
        time.sleep(seconds)
        after = _cpu_times()
    except OSError:
        return len(cpus)
    idle = 0
    for cpu in cpus:
        if cpu not in before or cpu not in after:
            idle += 1
            continue
        total = sum(after[cpu]) - sum(before[cpu])
        waiting = (after[cpu][3] + after[cpu][4]) - (before[cpu][3] + before[cpu][4])  # idle + iowait
        idle += total <= 0 or 1 - waiting / total < BUSY
    return max(1, idle)


def _cpu_set() -> set[int]:
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))


def _cpu_times() -> dict[int, list[int]]:
    times = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *values = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                times[int(name[3:])] = [int(value) for value in values[:8]]
    return times
