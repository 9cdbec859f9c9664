"""Every use of Lightning's private internals, in one place, each with the public API it stands in for and why.

pyproject.toml bounds Lightning below its next major version, and tests/test_lightning_internals.py fails loudly
when a minor release moves one of these (a failure there names the function to mend here).
"""

from collections.abc import Callable

from lightning import Trainer
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.loggers import WandbLogger
from torch import Tensor


def optimizer_step_counter(trainer: Trainer) -> Callable[[], None]:
    """A function that advances the counter behind `trainer.global_step` (and so `trainer.max_steps`) in manual
    optimization by one step. Public path: `optimizer.step()` through Lightning's `LightningOptimizer`, which
    advances it but runs its hooks per batch; `Classifier` steps torch's optimizer directly on one device, so it
    counts each step with this (looked up once per Lightning step, called per batch)."""
    progress = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress

    def count() -> None:
        progress.increment_ready()
        progress.increment_completed()

    return count


def publish_metrics(trainer: Trainer, metrics: dict) -> None:
    """Hands an epoch's metrics to the callbacks (early stopping, checkpoints, history), where `self.log` puts
    them. Public path: `self.log_dict`, which costs 0.22 ms per value here (Lightning 2.6.6 walks each logged
    value's whole state per call, `_ResultMetric.to`): 0.9 ms of a bundled-digits epoch's 8 ms for four values,
    to reduce again values the classifier's torchmetrics have already reduced over the epoch and the ranks."""
    trainer.callback_metrics.update(metrics)


def forget_metrics(trainer: Trainer, prefixes: tuple[str, ...]) -> None:
    """Drops the metrics whose names start with `prefixes` (last epoch's, so they cannot pass for this one's).
    Public path: none; `self.log` values are reset by Lightning's loops only for what is logged again."""
    for key in [key for key in trainer.callback_metrics if key.startswith(prefixes)]:
        del trainer.callback_metrics[key]


def full_checkpoint(trainer: Trainer) -> dict:
    """The checkpoint `trainer.save_checkpoint` would write (weights, optimizer, loops, callbacks' state), as a
    dict. Public path: `trainer.save_checkpoint(path)`, which writes the file itself (not whole or nothing) and
    cannot give best.ckpt its other weights without a second full serialization."""
    return trainer._checkpoint_connector.dump_checkpoint(weights_only=False)


def stops_early(rule: EarlyStopping, current: Tensor) -> bool:
    """Whether EarlyStopping `rule` ends training at this value of its monitor (its count of epochs without
    improvement moved on). Public path: the callback's `on_validation_end`, which reads the value from a trainer;
    a stacked group (studykit.stacking) asks each member's own rule without one."""
    should_stop, _ = rule._evaluate_stopping_criteria(current)
    return should_stop


def without_anonymous_setting(logger: WandbLogger) -> None:
    """Drops the `anonymous` setting Lightning's W&B logger always hands to `wandb.init` (None unless asked for),
    which W&B >= 0.19 no longer takes and warns about when the run ends. Public path: none (the logger builds its
    `wandb.init` arguments itself)."""
    logger._wandb_init.pop("anonymous", None)
