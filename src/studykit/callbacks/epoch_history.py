"""Per-epoch metrics to every logger (against the epoch and against elapsed training time) and to history.csv.

The rows are part of the callback's state, so they travel in checkpoints: a resumed run rewrites history.csv
and the loggers' curves from the checkpoint's rows (a killed run may have written epochs past its last save)
and goes on from there, so no epoch is ever listed twice. The file stays open while fitting and each epoch
appends its row (opening or rewriting it every epoch would cost a tenth of a digits epoch's training).
"""

import csv
import io
from pathlib import Path

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.utilities import rank_zero_only

from studykit.outputs.metrics import logged_name
from studykit.run import files
from studykit.stacking import replay

COLUMNS = ("epoch", "seconds", "train_loss", "train_acc", "val_loss", "val_acc")  # then the metrics a run adds


def fit_timer(trainer: Trainer) -> Timer:
    """Lightning's `Timer` callback: it measures the seconds spent in `fit`, resumed runs included."""
    timers = [callback for callback in trainer.callbacks if isinstance(callback, Timer)]
    if not timers:
        raise RuntimeError("the callbacks config needs a lightning.pytorch.callbacks.Timer")
    return timers[0]


def training_seconds(trainer: Trainer) -> float:
    """Seconds spent fitting (Lightning's Timer, resumed runs included), less the seconds callbacks spent drawing
    while it ran (their `seconds_drawing`): figures are not training."""
    if (record := replay.current()) is not None:  # a stacked member: its share of its group's time
        return record.epochs[min(trainer.current_epoch + 1, len(record.epochs)) - 1]["seconds"]
    drawing = sum(getattr(callback, "seconds_drawing", 0.0) for callback in trainer.callbacks)
    return fit_timer(trainer).time_elapsed("train") - drawing


def history_rows(trainer: Trainer) -> list[dict]:
    """The rows `EpochHistory` has recorded so far (one per epoch, restored ones included); none without it."""
    return next((callback.rows for callback in trainer.callbacks if isinstance(callback, EpochHistory)), [])


class EpochHistory(Callback):
    """Logs `train_loss`, `train_acc`, `val_loss`, `val_acc` (and the train and val columns of the metrics the
    run's `metrics` group adds) twice: under `by_epoch/` with the 1-based epoch as step, and under
    `by_training_ms/` with the milliseconds spent fitting so far as step (the group names the x axis, and sorts
    first in TensorBoard). Writes the same rows to `path`."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.columns = list(COLUMNS)
        self.rows: list[dict] = []
        self._restored = False
        self._file: files.AppendedFile | None = None

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rows = list(state_dict["rows"])
        self._restored = True

    @rank_zero_only
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        fit_timer(trainer)  # fails early, with what to add, where the callbacks config has none
        self.columns = [*COLUMNS[:2], *pl_module.epoch_columns]
        if self._restored:
            for row in self.rows:
                self._log(trainer, row)
        files.write_text(self.path, self._csv(self.rows, header=True), durable=False)
        self._file = files.AppendedFile(self.path)

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        metrics = trainer.callback_metrics
        if "val/loss" not in metrics:
            return
        row = {"epoch": trainer.current_epoch + 1, "seconds": round(training_seconds(trainer), 4)}
        row |= {column: float(metrics[logged_name(column)]) for column in self.columns[2:]}
        self.rows.append(row)
        self._log(trainer, row)
        self._file.append(self._csv([row], header=False))

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _log(self, trainer: Trainer, row: dict) -> None:
        for logger in trainer.loggers:
            for axis, step in (("by_epoch", row["epoch"]), ("by_training_ms", round(row["seconds"] * 1000))):
                columns = [column for column in self.columns[2:] if column in row]  # a resumed run may add metrics
                logger.log_metrics({f"{axis}/{column}": row[column] for column in columns}, step=step)

    def _csv(self, rows: list[dict], header: bool) -> str:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, self.columns, extrasaction="ignore")
        if header:
            writer.writeheader()
        writer.writerows(rows)
        return text.getvalue()
