"""Per-epoch metrics to every logger (against the epoch and against elapsed training time) and to history.csv."""

import csv
from pathlib import Path

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.utilities import rank_zero_only

COLUMNS = ("epoch", "seconds", "train_loss", "train_acc", "val_loss", "val_acc")


def training_seconds(trainer: Trainer) -> float:
    """Seconds spent in `fit` so far (resumed runs included), from Lightning's `Timer` callback."""
    timers = [callback for callback in trainer.callbacks if isinstance(callback, Timer)]
    if not timers:
        raise RuntimeError("the callbacks config needs a lightning.pytorch.callbacks.Timer")
    return timers[0].time_elapsed("train")


class EpochHistory(Callback):
    """Logs `train/loss`, `train/acc`, `val/loss`, `val/acc` with the 1-based epoch as step, the losses again
    under `loss_vs_ms/` with elapsed training milliseconds as step, and appends the same row to `path`."""

    def __init__(self, path: str):
        self.path = Path(path)

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if "val/loss" not in trainer.callback_metrics:
            return
        metrics = {key: float(value) for key, value in trainer.callback_metrics.items() if key.count("/") == 1}
        epoch, seconds = trainer.current_epoch + 1, training_seconds(trainer)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=epoch)
            logger.log_metrics(
                {"loss_vs_ms/train": metrics["train/loss"], "loss_vs_ms/val": metrics["val/loss"]},
                step=round(seconds * 1000),
            )
        row = {"epoch": epoch, "seconds": round(seconds, 4)} | {k.replace("/", "_"): v for k, v in metrics.items()}
        new_file = not self.path.exists()
        with self.path.open("a", newline="") as file:
            writer = csv.DictWriter(file, COLUMNS, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(row)
