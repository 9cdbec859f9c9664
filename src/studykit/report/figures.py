"""The report's figures as PNG files: validation loss curves, test accuracy and training time per run, the best
run's test confusion matrix and, for a two-key grid, validation accuracy as a heat-map."""

import json
from pathlib import Path

import numpy as np
import torch
from matplotlib import ticker
from matplotlib.figure import Figure

from studykit.outputs.confusion_image import confusion_image
from studykit.outputs.pictures import pixels, write_png
from studykit.report.runs import Run

LONGEST_VALUE, LONGEST_LABEL = 24, 60  # characters: a long swept value (a list of 150 widths) stays legible


def label(run: Run, keys: list[str]) -> str:
    """A run named by the settings that vary in its sweep (`hidden=40 act=relu`), else by its job dir; long values
    and labels cut, with their job number in front so they stay distinct."""
    text = " ".join(f"{key.split('.')[-1]}={shortened(str(run.settings.get(key)), LONGEST_VALUE)}" for key in keys)
    if not text:
        return shortened(run.name, LONGEST_LABEL)
    return text if len(text) <= LONGEST_LABEL else f"{run.number}: {shortened(text, LONGEST_LABEL)}"


def shortened(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def text_inches(text: str, points: float = 9) -> float:
    """About how wide `text` is in inches at a font size (matplotlib's own measure needs a draw)."""
    return 0.72 * points / 72 * len(text)


def framed(width: float, height: float, left: float, bottom: float = 0.6, right: float = 0.3, top: float = 0.4):
    """A figure with one axes placed by margins in inches (automatic layouts draw a figure twice), at least 2
    inches of axes wide and high whatever the margins."""
    width, height = max(width, left + right + 2), max(height, bottom + top + 0.3)
    figure = Figure(figsize=(width, height))
    box = (left / width, bottom / height, (width - left - right) / width, (height - bottom - top) / height)
    return figure, figure.add_axes(box)


def save(figure: Figure, path: Path) -> Path:
    return write_png(pixels(figure), path)


def loss_curves(runs: list[Run], keys: list[str], x: str, path: Path) -> Path:
    """Validation loss of every run against `x` (`epoch` or `seconds`), overlaid, the legend beside the plot."""
    names = [label(run, keys) for run in runs if run.history]
    legend = max(map(text_inches, names), default=0) + 1.0
    figure, axes = framed(7 + legend, 4.8, left=0.8, right=legend)
    for run, name in zip([run for run in runs if run.history], names, strict=True):
        axes.plot([row[x] for row in run.history], [row["val_loss"] for row in run.history], label=name)
    axes.set_xlabel("epoch" if x == "epoch" else "training seconds")
    if x == "epoch":
        axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    axes.set_ylabel("validation loss (log scale)")
    axes.set_yscale("log")
    plain = ticker.FormatStrFormatter("%g")
    axes.yaxis.set_major_formatter(plain)
    axes.yaxis.set_minor_formatter(plain)
    axes.tick_params(axis="y", which="minor", labelsize=7)
    axes.grid(alpha=0.3, which="both")
    if names:
        axes.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return save(figure, path)


def bars(runs: list[Run], keys: list[str], metric: str, axis_label: str, path: Path) -> Path:
    """One bar per run. Accuracies are zoomed to their range (0.914 and 0.967 must not look alike); every
    value is printed with the same decimals (4 for accuracies, 3 significant digits of the largest value
    otherwise), inside the frame."""
    names = [label(run, keys) for run in runs]
    values = np.array([run.metrics[metric] for run in runs], dtype=float)
    decimals = 4 if metric.endswith("_acc") else max(0, 2 - int(np.floor(np.log10(max(values.max(), 1e-9)))))
    figure, axes = framed(8, 0.9 + 0.35 * len(runs), left=0.3 + max(map(text_inches, names)), bottom=0.55, top=0.15)
    low = 0.0
    if metric.endswith("_acc"):
        spread = max(values.max() - values.min(), 0.005)
        low = max(0.0, values.min() - spread)
    axes.barh(names, values - low, left=low, color="tab:blue")
    axes.invert_yaxis()
    for index, value in enumerate(values):
        axes.text(value, index, f" {value:.{decimals}f}", va="center", fontsize=9)
    high = values.max() + (values.max() - low) * 0.18  # room for the printed values
    axes.set_xlim(low, high)
    axes.set_xlabel(axis_label)
    return save(figure, path)


def best_confusion(run: Run, keys: list[str], path: Path) -> Path | None:
    confusion_path = run.directory / "confusion.json"
    if not confusion_path.exists():
        return None
    confusion = json.loads(confusion_path.read_text())
    counts = torch.tensor(confusion["counts"]["test"])
    title = f"test, best run ({label(run, keys)})"
    return write_png(confusion_image(counts, confusion["class_names"], title), path)


def heatmap(runs: list[Run], keys: list[str], path: Path) -> Path:
    """Validation accuracy over the grid of two swept keys (blank where a run failed), rows and columns in the
    order the sweep ran them."""
    runs = sorted(runs, key=lambda run: run.number)
    rows = list(dict.fromkeys(run.settings[keys[0]] for run in runs))
    columns = list(dict.fromkeys(run.settings[keys[1]] for run in runs))
    grid = np.full((len(rows), len(columns)), np.nan)
    for run in runs:
        if run.finished:
            grid[rows.index(run.settings[keys[0]]), columns.index(run.settings[keys[1]])] = run.metrics["val_acc"]
    left = 0.8 + max(map(text_inches, rows))
    figure, axes = framed(left + 1.1 * len(columns) + 1.2, 1.3 + 0.7 * len(rows), left=left, right=1.2, top=0.5)
    image = axes.imshow(grid, cmap="viridis", aspect="auto")
    low, high = np.nanmin(grid), np.nanmax(grid)
    for (i, j), value in np.ndenumerate(grid):
        if not np.isnan(value):
            bright = high > low and (value - low) / (high - low) > 0.6  # viridis turns yellow: dark text there
            axes.text(j, i, f"{value:.4f}", ha="center", va="center", color="black" if bright else "white")
    axes.set_xticks(range(len(columns)), columns)
    axes.set_yticks(range(len(rows)), rows)
    axes.tick_params(length=0)
    axes.set_xlabel(keys[1])
    axes.set_ylabel(keys[0])
    axes.set_title("validation accuracy")
    colorbar = figure.colorbar(image, cax=figure.add_axes((1 - 0.9 / figure.get_figwidth(), 0.15, 0.02, 0.7)))
    colorbar.ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.3f"))
    return save(figure, path)
