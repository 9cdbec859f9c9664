"""A run dir from start to end, as src/train.py goes through it: held by one writer, a failure recorded as one
line, a finished run kept as it is, a killed one continued, the config written first and the results last."""

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning import Trainer
from omegaconf import DictConfig, OmegaConf
from torch import nn

from studykit.callbacks.epoch_history import training_seconds
from studykit.callbacks.optuna_pruning import pruned_at_epoch
from studykit.outputs.hparams import write_session
from studykit.outputs.metrics import (
    METRICS_FILE,
    RESULTS,
    added_metrics,
    final_metrics,
    hardware,
    parameter_count,
    read_metrics,
)
from studykit.outputs.mlflow_run import MLflowLogger
from studykit.outputs.settings import settings, trial_name
from studykit.outputs.wandb_run import WandbLogger
from studykit.run import files, locks, stopping
from studykit.run.checkpoints import clear_previous_attempt, resume_path
from studykit.run.failures import reported_as_one_line, stop
from studykit.run.ranks import announce_job, process_rank

log = logging.getLogger("train")
TRACKERS = (MLflowLogger, WandbLogger)  # loggers that keep a run's settings, results and status


class RunDir:
    """The dir Hydra gave the running job, with what the job's command line says about it."""

    def __init__(self, cfg: DictConfig):
        hydra_cfg = HydraConfig.get()
        self.path = Path(hydra_cfg.runtime.output_dir)
        self.config_name = hydra_cfg.job.config_name
        self.overrides = list(hydra_cfg.overrides.task)
        self.choices = dict(hydra_cfg.runtime.choices)
        self.launcher = hydra_cfg.launcher
        self.in_multirun = hydra_cfg.mode == RunMode.MULTIRUN
        self.writer = process_rank() == 0  # under DDP the other ranks' processes write nothing of their own
        self.settings = settings(cfg, self.choices, self.overrides)
        self.trial = trial_name(self.path, self.overrides, self.in_multirun)
        self.trackers: list[MLflowLogger | WandbLogger] = []

    @contextlib.contextmanager
    def owned(self) -> Iterator[None]:
        """Held by this process alone; a failure inside is one line (in failure.txt, and a failed HParams row).
        What a writer killed mid-write left behind goes first."""
        stopping.install()
        if signum := stopping.requested():  # a sweep asked to stop while its previous job was testing
            stop(stopping.StopRequested(signum, "before this job started"), single_run=not self.in_multirun)
        with reported_as_one_line(self.path, on_failure=self._failed), locks.held(self.path, "the run dir"):
            if self.writer:
                files.remove_partial_files(self.path)
            yield

    def finished_results(self) -> dict | None:
        """The metrics.json of a run that finished in this dir before, which is kept; None if there is none."""
        try:
            summary = read_metrics(self.path / METRICS_FILE)
        except FileNotFoundError:
            return None
        except ValueError as reason:
            log.warning(f"warning: {self.path}: {reason}; training this run again")
            return None
        log.info(f"{self.path} has finished already; keeping its results (delete its metrics.json to train again)")
        return summary

    def write_config(self, cfg: DictConfig) -> None:
        if self.writer:
            files.write_text(self.path / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    def checkpoint_to_continue(self, cfg: DictConfig) -> str | None:
        """`ckpt_path`, or this dir's own last.ckpt (a killed run re-launched); see `resume_path`."""
        ckpt_path = resume_path(cfg.ckpt_path, self.path, cfg)
        if ckpt_path == str(self.path / "checkpoints" / "last.ckpt"):
            clear_previous_attempt(self.path)
        return ckpt_path

    def log_settings(self, trainer: Trainer) -> None:
        """The settings to the trackers among the loggers (MLflow, W&B), which keep them from the start (a failed
        run has them too; TensorBoard's HParams row is written when the run ends, `write_session`)."""
        self.trackers = [logger for logger in trainer.loggers if isinstance(logger, TRACKERS)]
        for tracker in self.trackers:
            tracker.log_hyperparams(self.settings)

    def _failed(self) -> None:
        """The failed run's HParams row, and its trackers' runs ended as failed."""
        write_session(self.path, self.trial, self.settings, failed=True)
        for tracker in self.trackers:
            tracker.fail()

    def announce(self, network: nn.Module, split_sizes: dict[str, int], ckpt_path: str | None) -> None:
        sizes = ", ".join(f"{size} {split}" for split, size in split_sizes.items())
        log.info(
            f"{self.choices['model']} ({parameter_count(network):,} parameters) on {self.choices['data']} ({sizes}), "
            f"{torch.get_num_threads()} torch thread(s); run dir {self.path}"
        )
        if ckpt_path:
            log.info(f"continuing from {ckpt_path}")
        if self.in_multirun:
            announce_job(self.overrides, self.path)

    def record(self, trainer: Trainer, network: nn.Module, fitted: dict) -> dict:
        """metrics.json and the HParams row of the tested run (written once, under DDP by rank 0); its content."""
        summary = (
            final_metrics(trainer)
            | fitted
            | {"params": parameter_count(network), "hardware": hardware(trainer), "overrides": self.overrides}
            | pruned_at_epoch(trainer)
        )
        if trainer.is_global_zero:
            results = {key: summary[key] for key in (*RESULTS, *added_metrics(summary))}
            write_session(self.path, self.trial, self.settings | results)
            files.write_json(self.path / METRICS_FILE, summary)
            for tracker in self.trackers:
                tracker.record(results)
        log.info(
            f"val_acc {summary['val_acc']:.4f}, test_acc {summary['test_acc']:.4f}, test_loss "
            f"{summary['test_loss']:.4f} (best epoch {summary['best_epoch']} of {summary['epochs']}, "
            f"{summary['train_seconds']:.2f} s of training); results in {self.path}"
        )
        return summary


def fit_results(trainer: Trainer) -> dict:
    """What fitting did, read before testing: epochs trained, the best one, seconds spent."""
    seconds = training_seconds(trainer)
    return {
        "epochs": trainer.current_epoch,
        "best_epoch": trainer.checkpoint_callback.best_epoch,
        "train_seconds": round(seconds, 4),
    }
