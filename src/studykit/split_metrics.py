"""What a run measures on each split through torchmetrics: the mean loss and the accuracy (`LossAndAccuracy`),
a `MetricCollection` of the metrics the config's `metrics` group adds (e.g. `metrics=[f1_macro,auroc]`), fed
once per epoch from the outputs the classifier keeps, and each split's confusion matrix when testing. Every
metric sees `(N, classes)` class scores; a single-logit network (two classes) has its logit z as the scores
[0, z]."""

import contextlib
import warnings
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassConfusionMatrix

from studykit.outputs.metrics import SPLITS

BASE_NAMES = ("loss", "acc")


def class_scores(logits: Tensor) -> Tensor:
    """Scores per class, outputs last; a single logit z becomes [0, z] (its softmax: [1 - sigmoid(z), sigmoid(z)],
    its most likely class 1 where z > 0, as `studykit.classifier.predictions`)."""
    if logits.shape[-1] == 1:
        return torch.cat([torch.zeros_like(logits), logits], dim=-1)
    return logits


class LossAndAccuracy(Metric):
    """A split's mean loss (each batch's mean weighted by its size) and accuracy over an epoch, from two states
    summed over the ranks under DDP: the loss sum, and the counts of right predictions and of samples (exact
    integers). Its update, compute and reset per epoch cost about 50 microseconds where torchmetrics' MeanMetric
    and MulticlassAccuracy together cost 130, a twentieth of a bundled-digits epoch for the two splits."""

    full_state_update = False

    def __init__(self):
        super().__init__()
        self.add_state("loss_sum", torch.zeros(()), dist_reduce_fx="sum")
        self.add_state("counts", torch.zeros(2, dtype=torch.long), dist_reduce_fx="sum")  # right, all

    def update(self, losses: Tensor, sizes: Tensor, predicted: Tensor, targets: Tensor) -> None:
        self.loss_sum += losses.dot(sizes.to(losses.dtype))
        self.counts[0] += (predicted == targets).sum()
        self.counts[1] += targets.numel()

    def compute(self) -> dict[str, Tensor]:
        right, count = self.counts
        return {"loss": self.loss_sum / count, "acc": right / count}


class SplitMetrics(nn.Module):
    """`names`: the metrics each split reports (`loss`, `acc`, then the added ones), logged as `<split>/<name>`.
    A submodule of the classifier, so the metrics' states live on its device; they are not in checkpoints."""

    def __init__(self, num_classes: int, added: Mapping[str, Metric] | None = None):
        """`added`: metric name -> a metric (each split gets its own copy)."""
        super().__init__()
        added = dict(added or {})
        self.names = (*BASE_NAMES, *added)
        # Each split its own states (lists: a ModuleDict key cannot be `train`, a Module method). Loss and accuracy
        # apart from the added metrics: a stacked group measures those for all its members at once.
        self.base = nn.ModuleList([LossAndAccuracy() for _ in SPLITS])
        self.added = nn.ModuleList([self._added(split, added) for split in SPLITS])
        self.confusion = MulticlassConfusionMatrix(num_classes, validate_args=False)

    @staticmethod
    def _added(split: str, added: Mapping[str, Metric]) -> MetricCollection:
        return MetricCollection({name: metric.clone() for name, metric in added.items()}, prefix=f"{split}/")

    def epoch(self, split: str, losses: Tensor, sizes: Tensor, logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """The split's metrics over one epoch: `losses` the batches' mean losses, `sizes` their sample counts,
        `logits` and `targets` all its samples'. Under DDP the metrics sum their states over the ranks."""
        scores = class_scores(logits)
        base = self.base[SPLITS.index(split)]
        base.update(losses, sizes, scores.argmax(-1), targets)
        values = {f"{split}/{name}": value for name, value in base.compute().items()}
        base.reset()
        return values | self._measured(self.added[SPLITS.index(split)], scores, targets)

    def added_metrics(self, split: str, logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """Only the metrics the config added, over one epoch of the split."""
        return self._measured(self.added[SPLITS.index(split)], class_scores(logits), targets)

    @staticmethod
    def _measured(collection: MetricCollection, scores: Tensor, targets: Tensor) -> dict[str, Tensor]:
        if not len(collection):
            return {}
        collection.update(scores, targets)
        values = collection.compute()
        collection.reset()
        return values

    def confusion_matrix(self, logits: Tensor, targets: Tensor) -> Tensor:
        """`[true class, predicted class]` counts of all the split's samples (over all ranks under DDP)."""
        with _bincount_allowed():
            self.confusion.update(class_scores(logits), targets)
            counts = self.confusion.compute()
        self.confusion.reset()
        return counts


@contextlib.contextmanager
def _bincount_allowed() -> Iterator[None]:
    """While deterministic algorithms are on, torchmetrics counts classes through an (N x classes²) comparison
    instead of `torch.bincount` (44 against 1.8 ms for MNIST's 54000 training samples); bincount without
    weights is deterministic on every device, so they are off while it counts."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def check_one_number(name: str, metric: Metric, num_classes: int) -> str | None:
    """Why `metric` cannot be a column of history.csv and metrics.json (None when it can): it must give one
    number per epoch from `(N, classes)` class scores and class targets. Tried on a copy, one sample per class."""
    trial = metric.clone()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial.update(torch.eye(num_classes), torch.arange(num_classes))
            value = trial.compute()
    except (TypeError, ValueError, RuntimeError) as error:
        return f"it cannot measure (N, {num_classes}) class scores against class targets: {error}"
    if not isinstance(value, Tensor) or value.numel() != 1:
        return "it gives more than one number per epoch; a metric here must give one (e.g. average: macro)"
    return None
