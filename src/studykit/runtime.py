"""Process-wide torch settings for a run."""

import os

import torch
from omegaconf import DictConfig


def prepare_torch(threads: int | None) -> None:
    """Set the CPU thread count (None keeps torch's default) and drop Lightning's NVML-based CUDA check where
    there is no GPU: Lightning turns it on at import for fork safety, and then every Adam step probes for the
    NVIDIA library again (about 0.1 ms a step, measured on this project's CPU machine)."""
    if threads:
        torch.set_num_threads(threads)
    if not torch.cuda.is_available():
        os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)


def threads_per_job(launcher: DictConfig) -> int | None:
    """For jobs run side by side on this machine (Hydra's joblib launcher): the cores divided among them, so
    jobs x threads <= cores. None for launchers that run one job at a time or elsewhere."""
    if "joblib" not in str(launcher.get("_target_", "")).lower():
        return None
    cores = os.cpu_count() or 1
    jobs = launcher.n_jobs if launcher.n_jobs > 0 else cores + 1 + launcher.n_jobs  # joblib: -1 = all cores
    return max(1, cores // max(1, min(jobs, cores)))
