"""The one LightningModule: trains any classification network with cross-entropy and measures it.

Per epoch it reports `train/loss`, `train/acc`, `val/loss`, `val/acc` (what early stopping and checkpoints
watch). Testing runs over the train, val and test splits (see `InMemoryDataModule.test_dataloader`) and
keeps each split's confusion matrix, so the best checkpoint is measured on all three.
"""

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from lightning import LightningModule
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassConfusionMatrix

from studykit.data.in_memory import SPLITS
from studykit.errors import ConfigError, TrainingDiverged

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def check_optimizer(optimizer: OptimizerFactory) -> None:
    """Build the optimizer once on a dummy tensor, so torch rejects a bad setting (lr < 0, ...) before training."""
    try:
        optimizer([nn.Parameter(torch.zeros(1))])
    except ValueError as error:
        raise ConfigError("optimizer", getattr(optimizer, "keywords", optimizer), str(error)) from None


def loss_and_predictions(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax cross-entropy over class logits; for a network with a single output (two classes, as Keras'
    Dense(1, sigmoid)), binary cross-entropy on that logit, predicting class 1 where it is positive."""
    if logits.shape[1] == 1:
        logit = logits.squeeze(1)
        return F.binary_cross_entropy_with_logits(logit, targets.float()), (logit > 0).long()
    return F.cross_entropy(logits, targets), logits.detach().argmax(dim=1)


class Classifier(LightningModule):
    def __init__(
        self, network: nn.Module, optimizer: OptimizerFactory, class_names: list[str], run_config: dict | None = None
    ):
        """`run_config` is the resolved run config; it is stored in checkpoints so `eval.py` can rebuild the run."""
        super().__init__()
        self.save_hyperparameters("class_names", "run_config", logger=False)
        self.network = network
        self.optimizer_factory = optimizer
        check_optimizer(optimizer)
        num_classes = len(class_names)
        # One of each per split, in the order of SPLITS (a ModuleDict cannot hold the key "train").
        self.losses = nn.ModuleList(MeanMetric() for _ in SPLITS)
        self.confusion = nn.ModuleList(MulticlassConfusionMatrix(num_classes, validate_args=False) for _ in SPLITS)
        self.batch_results: list[list[tuple[Tensor, Tensor, Tensor]]] = [[] for _ in SPLITS]

    def forward(self, inputs: Tensor) -> Tensor:
        return self.network(inputs)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters())

    def _step(self, batch: tuple[Tensor, Tensor], split_index: int) -> Tensor:
        inputs, targets = batch
        loss, predictions = loss_and_predictions(self.network(inputs), targets)
        # Kept per batch and handed to the metrics once per epoch: a torchmetrics update per step would cost
        # more than the step itself for the small networks this template is for.
        self.batch_results[split_index].append((loss.detach(), predictions, targets))
        return loss

    def training_step(self, batch, batch_idx):
        loss = self._step(batch, SPLITS.index("train"))
        if not torch.isfinite(loss):
            learning_rate = self.trainer.optimizers[0].param_groups[0]["lr"]
            raise TrainingDiverged(
                f"the training loss is {loss.item()} at epoch {self.current_epoch + 1}, step {self.global_step + 1} "
                f"(batch {batch_idx + 1} of the epoch); lower optimizer.lr (now {learning_rate:g}) or check the data"
            )
        return loss

    def validation_step(self, batch, batch_idx):
        self._step(batch, SPLITS.index("val"))

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self._step(batch, dataloader_idx)

    def _epoch_metrics(self, split: str) -> dict[str, Tensor]:
        index = SPLITS.index(split)
        losses, predictions, targets = zip(*self.batch_results[index], strict=True)
        batch_sizes = torch.tensor([len(batch) for batch in targets], device=losses[0].device)
        self.losses[index].update(torch.stack(losses), batch_sizes)
        self.confusion[index].update(torch.cat(predictions), torch.cat(targets))
        self.batch_results[index].clear()
        counts = self.confusion[index].compute()
        values = {f"{split}/loss": self.losses[index].compute(), f"{split}/acc": counts.trace() / counts.sum()}
        if self.trainer.testing:
            self.test_confusion[split] = counts.cpu()
        self.losses[index].reset()
        self.confusion[index].reset()
        return values

    def on_validation_epoch_end(self):
        # Validation closes each training epoch, so the training metrics are complete here too. They are logged
        # for callbacks only: `EpochHistory` writes them to the loggers against the epoch and elapsed time.
        splits = ["val"]
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
            splits.append("train")
        for split in splits:
            self.log_dict(self._epoch_metrics(split), logger=False, sync_dist=True)

    def on_test_epoch_start(self):
        self.test_confusion: dict[str, Tensor] = {}

    def on_test_epoch_end(self):
        for split in SPLITS:
            self.log_dict(self._epoch_metrics(split), logger=False, sync_dist=True)
