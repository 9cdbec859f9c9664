"""The report's figures as PNG files: validation loss curves, test accuracy and training time per run, the best
run's test confusion matrix and, for a two-key grid, validation accuracy as a heat-map."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchmetrics.classification import MulticlassConfusionMatrix  # noqa: E402

from studykit.callbacks.confusion_images import confusion_figure  # noqa: E402
from studykit.report.runs import Run  # noqa: E402


def label(run: Run, keys: list[str]) -> str:
    return " ".join(f"{key.split('.')[-1]}={run.settings.get(key)}" for key in keys) or run.name


def save(figure: plt.Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def loss_curves(runs: list[Run], keys: list[str], x: str, path: Path) -> Path:
    """Validation loss of every run against `x` (`epoch` or `seconds`), overlaid."""
    figure, axes = plt.subplots(figsize=(8, 5))
    for run in runs:
        if run.history:
            axes.plot([row[x] for row in run.history], [row["val_loss"] for row in run.history], label=label(run, keys))
    axes.set_xlabel("epoch" if x == "epoch" else "training seconds")
    axes.set_ylabel("validation loss")
    axes.set_yscale("log")
    axes.legend(fontsize="small")
    return save(figure, path)


def bars(runs: list[Run], keys: list[str], metric: str, axis_label: str, path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(8, 0.5 + 0.4 * len(runs)))
    names = [label(run, keys) for run in runs]
    values = [run.metrics[metric] for run in runs]
    axes.barh(names, values)
    axes.invert_yaxis()
    axes.bar_label(axes.containers[0], fmt="%.4g", fontsize="small")
    axes.set_xlabel(axis_label)
    return save(figure, path)


def best_confusion(run: Run, path: Path) -> Path | None:
    confusion_path = run.directory / "confusion.json"
    if not confusion_path.exists():
        return None
    confusion = json.loads(confusion_path.read_text())
    counts = torch.tensor(confusion["counts"]["test"])
    metric = MulticlassConfusionMatrix(len(confusion["class_names"]))
    title = f"best run ({run.name.split('_')[0]}), test"
    return save(confusion_figure(counts, confusion["class_names"], title, metric), path)


def heatmap(runs: list[Run], keys: list[str], path: Path) -> Path:
    """Validation accuracy over the grid of two swept keys (blank where a run failed)."""
    rows = list(dict.fromkeys(run.settings[keys[0]] for run in runs))
    columns = list(dict.fromkeys(run.settings[keys[1]] for run in runs))
    grid = np.full((len(rows), len(columns)), np.nan)
    for run in runs:
        if run.finished:
            grid[rows.index(run.settings[keys[0]]), columns.index(run.settings[keys[1]])] = run.metrics["val_acc"]
    figure, axes = plt.subplots(figsize=(1.5 + 1.2 * len(columns), 1.0 + 0.8 * len(rows)))
    image = axes.imshow(grid, cmap="viridis")
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            axes.text(j, i, f"{value:.4f}", ha="center", va="center", color="white", fontsize="small")
    axes.set_xticks(range(len(columns)), columns)
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel(keys[1])
    axes.set_ylabel(keys[0])
    axes.set_title("validation accuracy")
    figure.colorbar(image)
    return save(figure, path)
