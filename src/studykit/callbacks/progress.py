"""Progress as Keras shows it: one line per epoch, counted from 1 as in history.csv, ending with the epoch's
training and validation loss and accuracy; one line saying why fitting stopped and which epoch was best; the
final test named by split. In a terminal the epoch's line moves while it trains; elsewhere (CI, SLURM logs) each
epoch prints its finished line once.

Cheap on purpose: nothing is drawn per batch, at most every `redraw_seconds` in a terminal and once per epoch
otherwise (Lightning's bar built a validation bar every epoch: a tenth of a digits epoch).
"""

import logging
import sys
import time

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ProgressBar

from studykit.callbacks.optuna_pruning import pruned_at_epoch
from studykit.outputs.metrics import SPLITS
from studykit.stacking import replay

WIDTH = 20  # characters of the bar itself
# The finished lines go to the run's log file too (configs/hydra/job_logging), where the terminal's moving ones
# cannot.
log = logging.getLogger("studykit.progress")
KERAS_NAMES = (("loss", "train/loss"), ("acc", "train/acc"), ("val_loss", "val/loss"), ("val_acc", "val/acc"))


class EpochProgress(ProgressBar):
    def __init__(self, enabled: bool = True, redraw_seconds: float = 0.25):
        super().__init__()
        self._enabled = enabled
        self.redraw_seconds = redraw_seconds
        self.stream = sys.stdout
        self._drawn = 0.0
        self._started = 0.0
        self._replaying = False

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    @property
    def in_place(self) -> bool:
        return self.stream.isatty()

    def print(self, *args, **kwargs) -> None:
        self._write("\r\x1b[K" if self.in_place else "")
        print(*args, **kwargs, file=self.stream)

    def _write(self, text: str) -> None:
        """To the terminal, but while a stacked member replays its fitting (its group showed it), to the log only."""
        if self._replaying:
            return
        self.stream.write(text)
        self.stream.flush()

    def _bar(self, done: int, total: int | float) -> str:
        if not total or total == float("inf"):
            return f"{done}"
        filled = int(WIDTH * done / total)
        arrow = ">" if filled < WIDTH else ""
        return f"{done}/{total} [{'=' * filled}{arrow}{'.' * (WIDTH - filled - len(arrow))}]"

    def _epoch(self, trainer: Trainer) -> str:
        limit = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        return f"Epoch {trainer.current_epoch + 1}{limit}"

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._replaying = replay.in_replay()

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._started = self._drawn = time.perf_counter()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self.is_enabled and self.in_place and now - self._drawn >= self.redraw_seconds:
            self._drawn = now
            progress = self._bar(batch_idx + 1, self.total_train_batches)
            self._write(f"\r{self._epoch(trainer)} {progress} {now - self._started:.0f}s\x1b[K")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.is_enabled:
            return
        metrics = trainer.callback_metrics
        seconds = time.perf_counter() - self._started
        values = [f"{name}: {float(metrics[key]):.4f}" for name, key in KERAS_NAMES if key in metrics]
        done = self.total_train_batches
        line = " - ".join([f"{self._epoch(trainer)} {self._bar(done, done)} {_duration(seconds)}", *values])
        self._write(("\r" if self.in_place else "") + line + ("\x1b[K\n" if self.in_place else "\n"))
        log.info(line)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.is_enabled:
            reason = stop_reason(trainer)
            self._write(f"{reason}\n")
            log.info(reason)
        self._replaying = False

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._drawn = 0.0
        self._tested: dict[str, str] = {}

    def on_test_batch_end(self, trainer: Trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        split = SPLITS[dataloader_idx]
        done = batch if isinstance(batch, int) else batch_idx + 1  # a replayed run's pass: its number of batches
        self._tested[split] = self._bar(done, trainer.num_test_batches[dataloader_idx])
        now = time.perf_counter()
        if self.is_enabled and self.in_place and now - self._drawn >= self.redraw_seconds:
            self._drawn = now
            self._write(f"\r{self._testing()}\x1b[K")

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.is_enabled:
            self._write(("\r" if self.in_place else "") + self._testing() + ("\x1b[K\n" if self.in_place else "\n"))
            log.info(self._testing())

    def _testing(self) -> str:
        return "Testing: " + ", ".join(f"{split} {progress}" for split, progress in self._tested.items())


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def stop_reason(trainer: Trainer) -> str:
    """Why fitting ended, at which epoch, and which epoch was best."""
    epoch = trainer.current_epoch
    stopper = trainer.early_stopping_callback
    pruned = pruned_at_epoch(trainer)
    if pruned:
        reason = f"Pruned by the Optuna search at epoch {pruned['pruned_at_epoch']}"
    elif trainer.should_stop and stopper is not None and stopper.stopped_epoch:
        reason = f"Early stopping at epoch {epoch}: {stopper.monitor} did not improve for {stopper.patience} epochs"
    elif 0 <= trainer.max_steps <= trainer.global_step:
        reason = f"Stopped at trainer.max_steps={trainer.max_steps} (epoch {epoch})"
    else:
        reason = f"Stopped at trainer.max_epochs={trainer.max_epochs}"
    checkpoints = trainer.checkpoint_callback
    best_epoch = getattr(checkpoints, "best_epoch", None)
    if best_epoch:
        reason += f"; best epoch {best_epoch} ({checkpoints.monitor} {checkpoints.best_score:.4f})"
    return reason
