"""Checkpoints whose cost does not grow with the number of epochs.

The best weights (by `monitor`) are kept in memory. `last.ckpt` holds everything a run needs to continue
exactly where it was (weights, optimizer, loop counters, callbacks, the random states, the batch order and the
best weights), and `best.ckpt` the best weights; both are written whole or not at all, at the end of an epoch
when `save_every_seconds` have passed since the last save, when fitting ends, and when the process is asked to
stop (studykit.run.stopping). A killed run therefore
loses at most the epochs of the last `save_every_seconds` plus the epoch under way.
"""

import time
from pathlib import Path

import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import Checkpoint

from studykit.errors import ConfigError
from studykit.lightning_internals import full_checkpoint
from studykit.run import files, stopping
from studykit.run.stopping import StopRequested
from studykit.stacking import replay

# What best.ckpt needs from a full checkpoint: what testing, eval.py and the networks' own loading read.
NOT_IN_BEST = ("optimizer_states", "lr_schedulers", "callbacks", "loops")


def improves(score: float, best: float | None, mode: str) -> bool:
    """Strictly better than the best so far (lower for `mode` min, higher for max); the first score always is."""
    return best is None or (score < best if mode == "min" else score > best)


class PeriodicCheckpoint(Checkpoint):
    def __init__(self, dirpath: str, monitor: str = "val/loss", mode: str = "min", save_every_seconds: float = 10):
        self.dirpath = Path(dirpath)
        self.monitor = monitor
        self.mode = mode
        self.save_every_seconds = save_every_seconds
        self.best_score: float | None = None
        self.best_epoch = 0
        self.best_weights: dict | None = None
        self._weights: dict | None = None  # the module's own tensors, in state-dict order
        self.stopped = False  # fitting ended by early stopping: a resumed run must not train on
        self._resumed_own_run = False
        self._last_save = time.monotonic()

    @property
    def best_model_path(self) -> str:
        """As Lightning's ModelCheckpoint names it."""
        return str(self.dirpath / "best.ckpt")

    @property
    def last_model_path(self) -> str:
        return str(self.dirpath / "last.ckpt")

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._last_save = time.monotonic()
        if self._resumed_own_run and self.stopped:
            trainer.should_stop = True  # Lightning forgets it; without it the run would train one more epoch

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        stopping.install()  # after Lightning has put its own SIGTERM handler in place for fitting

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking and self.monitor not in trainer.callback_metrics:
            names = ", ".join(sorted(trainer.callback_metrics))
            raise ConfigError("callbacks.model_checkpoint.monitor", self.monitor, f"the metrics are {names}")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        score = trainer.callback_metrics.get(self.monitor)
        if score is not None:  # None: an epoch cut short by trainer.max_steps, never validated
            self._consider(float(score), trainer, pl_module)
        if replay.current() is not None:
            return  # a stacked member's replay (seconds long) saves when it ends; a stop waits till the run's end
        signum = trainer.strategy.broadcast(stopping.requested())  # every rank stops and saves together
        due = time.monotonic() - self._last_save >= self.save_every_seconds
        if trainer.strategy.broadcast(due) or signum:  # rank 0 writes
            self.save(trainer)
        if signum:
            raise StopRequested(signum, f"after epoch {trainer.current_epoch + 1}; its checkpoint is saved")

    def _consider(self, score: float, trainer: Trainer, pl_module: LightningModule) -> None:
        if improves(score, self.best_score, self.mode):
            self.best_score, self.best_epoch = score, trainer.current_epoch + 1
            self._keep_best_weights(pl_module)

    def _keep_best_weights(self, pl_module: LightningModule) -> None:
        """A copy of the weights, made once and then overwritten in place (a new state dict every improving
        epoch would cost more than a digits epoch's validation)."""
        if self.best_weights is None or self._weights is None:
            self._weights = pl_module.state_dict(keep_vars=True)
            self.best_weights = {name: value.detach().clone() for name, value in self._weights.items()}
            return
        with torch.no_grad():
            for name, value in self._weights.items():
                self.best_weights[name].copy_(value)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.stopped = trainer.should_stop
        self.save(trainer)

    def save(self, trainer: Trainer) -> None:
        """best.ckpt first, then last.ckpt: a last.ckpt on disk always comes with a best.ckpt at least as new."""
        checkpoint = full_checkpoint(trainer)
        best = {key: value for key, value in checkpoint.items() if key not in NOT_IN_BEST}
        if self.best_weights is not None:
            best |= {"state_dict": self.best_weights, "epoch": self.best_epoch - 1}
        if trainer.is_global_zero:
            files.make_dir(self.dirpath)
            files.torch_save(best, Path(self.best_model_path))
            files.torch_save(checkpoint, Path(self.last_model_path))
        trainer.strategy.barrier("PeriodicCheckpoint.save")
        self._last_save = time.monotonic()

    def state_dict(self) -> dict:
        return {
            "dirpath": str(self.dirpath),
            "monitor": self.monitor,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
            "stopped": self.stopped,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.best_score, self.best_epoch = state_dict["best_score"], state_dict["best_epoch"]
        self.best_weights = state_dict["best_weights"]
        self.stopped = state_dict["stopped"]
        # Continuing another run's checkpoint in a new dir (ckpt_path=<file>) trains on whatever stopped it.
        self._resumed_own_run = Path(state_dict["dirpath"]) == self.dirpath
