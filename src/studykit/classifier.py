"""The one LightningModule: trains any classification network with cross-entropy and measures it.

One Lightning training step trains up to `batches_per_step` batches, one optimizer step each: the batches are
already in memory, and Lightning's per-step machinery (hooks, closures, loop bookkeeping) costs more than a
whole step of the small networks this template is for. The batches, their order and the updates are the same
as with `batches_per_step=1` (one Lightning step per batch), so the results are too. A step also ends after
STEP_SECONDS in a single process, so the progress bar keeps moving on slow networks. Where it pays, each batch's
update runs without autograd (`step="auto"`, studykit.steps.written_step); the run's log says which path ran.

Per epoch it reports `train/loss`, `train/acc`, `val/loss`, `val/acc` (what early stopping and checkpoints
watch) and the metrics the config adds, measured through torchmetrics once per epoch from each batch's outputs
(`studykit.split_metrics`). Testing runs over the train, val and test splits (see
`InMemoryDataModule.test_dataloader`) and keeps each split's confusion matrix, so the best checkpoint is
measured on all three.
"""

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

import torch
import torch.nn.functional as F
from lightning import LightningModule
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor, nn
from torchmetrics import Metric

from studykit.errors import TrainingDiverged
from studykit.lightning_internals import forget_metrics, optimizer_step_counter, publish_metrics
from studykit.outputs.metrics import SPLITS, logged_name
from studykit.split_metrics import SplitMetrics
from studykit.stacking import replay
from studykit.stacking.replay import MemberRecord
from studykit.steps.written_step import Step, written_step

log = logging.getLogger("studykit.steps")  # the step a run takes: to its log file (configs/hydra/job_logging)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
TRAIN = SPLITS.index("train")
STEP_SECONDS = 0.25


def loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Softmax cross-entropy over class logits; for a network with a single output (two classes, as Keras'
    Dense(1, sigmoid)), binary cross-entropy on that logit."""
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits.squeeze(1), targets.float())
    return F.cross_entropy(logits, targets)


def predictions(logits: Tensor) -> Tensor:
    """The most likely class (outputs last, so a stacked group's `(members, batch, outputs)` too); with a single
    output, class 1 where the logit is positive."""
    if logits.shape[-1] == 1:
        return (logits.squeeze(-1) > 0).long()
    return logits.argmax(dim=-1)


class Classifier(LightningModule):
    def __init__(
        self,
        network: nn.Module,
        optimizer: OptimizerFactory,
        class_names: list[str],
        run_config: dict | None = None,
        batches_per_step: int = 256,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str = "norm",
        metrics: Mapping[str, Metric] | None = None,
        step: str = "auto",
    ):
        """`run_config` is the resolved run config; it is stored in checkpoints so `eval.py` can rebuild the run.
        `gradient_clip_val`: clip each step's gradients to this norm (or value, `gradient_clip_algorithm`).
        `metrics`: the metrics measured beside loss and accuracy, by name (the config's `metrics` group).
        `step`: "auto" trains without autograd where `written_step` can, "autograd" always with it."""
        super().__init__()
        self.save_hyperparameters("class_names", "run_config", logger=False)
        self.automatic_optimization = False
        self.network = network
        self.optimizer_factory = optimizer
        self.batches_per_step = batches_per_step
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.step_choice = step
        self.written_step: Step | None = None
        self.split_metrics = SplitMetrics(len(class_names), metrics)
        self.batch_results: list[list[tuple[Tensor, Tensor, Tensor]]] = [[] for _ in SPLITS]
        self.test_confusion: dict[str, Tensor] = {}
        self._batches_this_epoch = 0
        self.replayed: MemberRecord | None = None  # a member of a stacked group (studykit.stacking)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters())

    def _step(self, batch: tuple[Tensor, Tensor], split_index: int) -> Tensor:
        inputs, targets = batch
        logits = self.network(inputs)
        batch_loss = loss(logits, targets)
        # Kept per batch and measured once per epoch: a metric update per step would cost more than the step
        # itself for the small networks this template is for.
        self.batch_results[split_index].append((batch_loss.detach(), logits.detach(), targets))
        return batch_loss

    def on_train_epoch_start(self) -> None:
        self._batches_this_epoch = 0
        # Last epoch's numbers must not pass for this one's: an epoch that `trainer.max_steps` cuts short gets
        # no validation, and callbacks then find no metrics for it.
        forget_metrics(self.trainer, ("train/", "val/"))

    def on_fit_start(self) -> None:
        self.replayed = replay.current()

    def on_train_start(self) -> None:
        """Chooses the step (the optimizer exists, and a resumed run's state is restored, by now)."""
        self.written_step, line = None, "training step: autograd"
        if self.replayed is not None:
            line = self.replayed.step
        elif self.step_choice == "autograd":
            line += " (classifier.step=autograd)"
        elif self.gradient_clip_val:
            line += " (clipping takes the gradients of autograd's path)"
        elif not self._direct():
            line += " (DDP or mixed precision: Lightning's optimizer path)"
        else:
            self.written_step, line = written_step(self.network, self.trainer.optimizers[0])
        log.info(line)

    def _direct(self) -> bool:
        """One device in full precision: the optimizer is stepped directly, not through Lightning's path."""
        trainer = self.trainer
        return isinstance(trainer.strategy, SingleDeviceStrategy) and type(trainer.precision_plugin) is Precision

    def on_fit_end(self) -> None:
        if self.replayed is not None and self.current_epoch != len(self.replayed.epochs):
            raise RuntimeError(
                f"the replay ended after {self.current_epoch} epochs, its stacked group trained "
                f"{len(self.replayed.epochs)}: a setting the group does not follow (report it)"
            )
        self.replayed = None

    def training_step(self, dataloader_iter: Iterator) -> None:
        """Lightning hands over its batch iterator (for the argument's name); each step takes what it trains."""
        if self.replayed is not None:
            self._replay_training(dataloader_iter)
            return
        trainer = self.trainer
        direct = self._direct()
        limit = self.batches_per_step
        if trainer.max_steps >= 0:
            limit = min(limit, trainer.max_steps - trainer.global_step)
        # Under DDP every rank must take the same number of batches per step, so only one process watches time.
        deadline = time.perf_counter() + STEP_SECONDS if trainer.world_size == 1 else float("inf")
        optimizer = self.optimizers()
        count_step = optimizer_step_counter(trainer)
        first_step, trained = trainer.global_step, 0
        for batch, _, _ in dataloader_iter:
            if self.written_step is not None:
                logits, batch_loss = self.written_step(*batch)
                self.batch_results[TRAIN].append((batch_loss, logits, batch[1]))
                count_step()
            elif direct:
                self._optimizer_step_directly(optimizer.optimizer, self._step(batch, TRAIN))
                count_step()
            else:  # Lightning's own path: DDP's gradient synchronization, mixed precision's gradient scaler
                batch_loss = self._step(batch, TRAIN)
                optimizer.zero_grad()
                self.manual_backward(batch_loss)
                optimizer.step()
            trained += 1
            if trained >= limit or time.perf_counter() > deadline:
                break
        self._check_finite(trained, first_step)

    def _optimizer_step_directly(self, optimizer: torch.optim.Optimizer, batch_loss: Tensor) -> None:
        """What Lightning's path does for one device in full precision, without its per-step hooks (which cost
        as much as a whole step of the small networks this template is for)."""
        optimizer.zero_grad()
        batch_loss.backward()
        self._clip_gradients(optimizer)
        optimizer.step()

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """On Lightning's path, after mixed precision has unscaled the gradients."""
        self._clip_gradients(optimizer)

    def _clip_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, self.gradient_clip_val, self.gradient_clip_algorithm)

    def _check_finite(self, trained: int, first_step: int) -> None:
        """Once per Lightning step rather than per batch: on a GPU, reading a loss waits for the device."""
        if trained == 0:
            return
        losses = torch.stack([loss for loss, _, _ in self.batch_results[TRAIN][-trained:]])
        finite = torch.isfinite(losses)
        if not finite.all():
            first = int((~finite).nonzero()[0])
            learning_rate = self.trainer.optimizers[0].param_groups[0]["lr"]
            raise TrainingDiverged(
                f"the training loss is {losses[first].item()} at epoch {self.current_epoch + 1}, step "
                f"{first_step + first + 1} (batch {self._batches_this_epoch + first + 1} of the epoch); "
                f"lower optimizer.lr (now {learning_rate:g}) or check the data"
            )
        self._batches_this_epoch += trained

    def _replay_training(self, dataloader_iter: Iterator) -> None:
        """A member of a stacked group trained this epoch with its group: its batch order moves on as it did
        (the loader yields the epoch's number of batches, `TensorBatches.counts_only`, or for augmented data its
        batches) and its optimizer steps are counted, but nothing is computed again."""
        epoch = self.current_epoch + 1
        if self.replayed.failure and epoch == self.replayed.failed_epoch:
            raise TrainingDiverged(self.replayed.failure)
        if epoch > len(self.replayed.epochs):
            raise RuntimeError(f"the stacked group stopped this member after {len(self.replayed.epochs)} epochs")
        count_step = optimizer_step_counter(self.trainer)
        for batch, _, _ in dataloader_iter:  # augmented data's batches are cut, to draw as the group did
            for _ in range(batch if isinstance(batch, int) else 1):
                count_step()

    def _replay_results(self) -> None:
        """The epoch's metrics as the group measured them; the weights (and optimizer state) the member had after
        its best and its last epoch, where the checkpoints take them."""
        epoch, record = self.current_epoch + 1, self.replayed
        row = record.epochs[epoch - 1]
        self._log({logged_name(name): torch.tensor(row[name]) for name in self.epoch_columns})
        if epoch == record.best_epoch:
            self.network.load_state_dict(record.best_weights)
        if epoch == len(record.epochs) and record.failure is None:  # a failing member has no final state
            self.network.load_state_dict(record.final_weights)
            self.trainer.optimizers[0].load_state_dict(record.optimizer_state)

    def validation_step(self, batch, batch_idx):
        if self.replayed is None:
            self._step(batch, SPLITS.index("val"))

    def on_test_start(self) -> None:
        self.replayed = replay.current()

    def on_test_end(self) -> None:
        self.replayed = None

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        if self.replayed is None:
            self._step(batch, dataloader_idx)

    @property
    def epoch_columns(self) -> list[str]:
        """What each epoch reports, as history.csv names it: `train_loss`, `train_acc`, ..., `val_acc`, ..."""
        return [f"{split}_{name}" for split in ("train", "val") for name in self.split_metrics.names]

    def _epoch_metrics(self, split: str) -> dict[str, Tensor]:
        """The split's metrics over all its batches of the epoch (of all ranks under DDP); while testing, its
        confusion counts are kept for `ConfusionImages`."""
        index = SPLITS.index(split)
        losses, logits, targets = zip(*self.batch_results[index], strict=True)
        self.batch_results[index].clear()
        sizes = torch.tensor([len(batch) for batch in targets], device=losses[0].device)
        logits, targets = torch.cat(logits), torch.cat(targets)
        if self.trainer.testing:
            self.test_confusion[split] = self.split_metrics.confusion_matrix(logits, targets).cpu()
        return self.split_metrics.epoch(split, torch.stack(losses), sizes, logits, targets)

    def _log(self, metrics: dict[str, Tensor]) -> None:
        """To the callbacks (early stopping, checkpoints, history), which write them to the loggers per epoch."""
        publish_metrics(self.trainer, metrics)

    def _report(self, splits: list[str]) -> None:
        for split in splits:
            self._log(self._epoch_metrics(split))

    def on_validation_epoch_end(self):
        # Validation closes each training epoch, so the training metrics are complete here too.
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
            self._replay_results() if self.replayed is not None else self._report(["val", "train"])
        else:
            self._report(["val"])

    def on_test_epoch_start(self):
        self.test_confusion = {}

    def on_test_epoch_end(self):
        if self.replayed is not None:  # its group measured its best weights on every split
            self.test_confusion = dict(self.replayed.test_confusion)
            for metrics in self.replayed.tested.values():
                self._log(metrics)
            return
        self._report(list(SPLITS))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """The random state (dropout masks to come) and the thread count (CPU results depend on it) go into
        every checkpoint, so a resumed run continues exactly as an uninterrupted one would have."""
        checkpoint["random_state"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        }
        checkpoint["torch_threads"] = torch.get_num_threads()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.trainer.state.fn != TrainerFn.FITTING or "random_state" not in checkpoint:
            return  # testing a checkpoint needs neither
        torch.set_rng_state(checkpoint["random_state"]["torch"])
        if checkpoint["random_state"]["cuda"]:
            torch.cuda.set_rng_state_all(checkpoint["random_state"]["cuda"])
        torch.set_num_threads(checkpoint["torch_threads"])
