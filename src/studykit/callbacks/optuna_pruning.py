"""Inside a trial of an Optuna search (`hydra/sweeper=optuna_study`): reports the search's objective after every
validation to the trial, and stops fitting when the search's pruner says the trial is poor. The run then ends
as any other (its best checkpoint tested, its files written) and metrics.json says `pruned_at_epoch`. Outside a
search, or without a pruner, it only reports, or does nothing. A member of a stacked group (studykit.stacking)
was reported and judged while its group trained; its run stops where the group pruned it."""

import os
from collections.abc import Mapping

from lightning import Callback, LightningModule, Trainer

from studykit.callbacks.epoch_history import history_rows
from studykit.outputs.metrics import logged_name
from studykit.stacking import replay


class OptunaPruning(Callback):
    def __init__(self, objective: str, pruner=None):
        """`objective`: a per-epoch metric as metrics.json names it (`val_acc`); `pruner`: an Optuna pruner, or
        None to report without pruning."""
        self.column, self.metric = objective, logged_name(objective)
        self.pruner = pruner
        self.pruned_at_epoch: int | None = None
        self._trial = None

    def attach(self, environment: Mapping[str, str] = os.environ) -> bool:
        """Finds the trial of the job whose variables `environment` holds; False outside a search."""
        from studykit.search.optuna_study import job_trial

        self._trial = job_trial(self.pruner, environment)
        return self._trial is not None

    def judge(self, epoch: int, value: float) -> bool:
        """Reports the epoch's objective to the trial; True where the pruner stops the trial there."""
        self._trial.report(value, step=epoch)
        return self.pruner is not None and self._trial.should_prune()

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero or replay.current() is not None or not self.attach():
            return
        # A retried trial continues its job's checkpoint: the epochs trained before count for the pruner too.
        for row in history_rows(trainer):
            self._trial.report(row[self.column], step=int(row["epoch"]))

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        epoch = trainer.current_epoch + 1
        if (record := replay.current()) is not None:
            prune = record.pruned_at_epoch == epoch
        else:
            prune = self._trial is not None and self.judge(epoch, float(trainer.callback_metrics[self.metric]))
        if trainer.strategy.broadcast(prune):  # every rank stops together
            self.pruned_at_epoch = trainer.current_epoch + 1
            trainer.should_stop = True

    def state_dict(self) -> dict:
        return {"pruned_at_epoch": self.pruned_at_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.pruned_at_epoch = state_dict["pruned_at_epoch"]


def pruned_at_epoch(trainer: Trainer) -> dict:
    """`{"pruned_at_epoch": N}` for metrics.json when a search pruned this run, else `{}`."""
    epochs = [callback.pruned_at_epoch for callback in trainer.callbacks if isinstance(callback, OptunaPruning)]
    return {"pruned_at_epoch": epochs[0]} if epochs and epochs[0] else {}
