"""After testing, draws each split's row-normalized confusion matrix with per-cell values and the accuracy."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from lightning import Callback, LightningModule, Trainer  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402
from torch import Tensor  # noqa: E402

from studykit.data.in_memory import SPLITS  # noqa: E402


def normalize_rows(counts: Tensor) -> Tensor:
    """Each row (a true class) divided by its count: the share of that class given each prediction."""
    counts = counts.double()
    return counts / counts.sum(dim=1, keepdim=True).clamp(min=1)


def confusion_figure(counts: Tensor, class_names: list[str], title: str, metric) -> plt.Figure:
    figure, axes = plt.subplots(figsize=(1.0 + 0.6 * len(class_names), 0.6 + 0.6 * len(class_names)))
    metric.plot(val=normalize_rows(counts), ax=axes, labels=class_names)
    accuracy = counts.trace().item() / max(counts.sum().item(), 1)
    axes.set_title(f"{title}: accuracy {accuracy:.4f}")
    figure.tight_layout()
    return figure


class ConfusionImages(Callback):
    """Writes `confusion_<split>.png` and the raw counts (`confusion.json`) to `directory`, and each image to
    TensorBoard as `confusion/<split>`."""

    def __init__(self, directory: str):
        self.directory = Path(directory)

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        class_names = pl_module.hparams.class_names
        for split, counts in pl_module.test_confusion.items():
            figure = confusion_figure(
                counts, class_names, f"{split} (normalized)", pl_module.confusion[SPLITS.index(split)]
            )
            figure.savefig(self.directory / f"confusion_{split}.png", dpi=80)
            for logger in trainer.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_figure(f"confusion/{split}", figure, global_step=0, close=False)
            plt.close(figure)
        counts = {split: counts.tolist() for split, counts in pl_module.test_confusion.items()}
        (self.directory / "confusion.json").write_text(json.dumps({"class_names": class_names, "counts": counts}))
