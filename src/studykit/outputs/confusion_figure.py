"""Row-normalized confusion matrices drawn from counts and class names: the share of each true class (row)
given each prediction (column), zero cells left blank, the accuracy in the title."""

import torch
from matplotlib.figure import Figure
from torch import Tensor


def normalize_rows(counts: Tensor) -> Tensor:
    """Each row (a true class) divided by its count: the share of that class given each prediction."""
    counts = counts.double()
    return counts / counts.sum(dim=1, keepdim=True).clamp(min=1)


def accuracy(counts: Tensor) -> float:
    return counts.trace().item() / max(counts.sum().item(), 1)


def confusion_figure(counts: Tensor, class_names: list[str], title: str) -> Figure:
    """Laid out by hand from the class names' length (upright names, cells wide enough for the longest):
    matplotlib's automatic layouts draw the figure twice, and each draw costs a tenth of a second."""
    counts = torch.as_tensor(counts)
    shares = normalize_rows(counts)
    size = len(class_names)
    name_width = 0.08 * max(len(name) for name in class_names)  # inches at font size 9
    cell = max(0.5, name_width + 0.1)
    full_title = f"{title}: accuracy {accuracy(counts):.4f}"
    # The title is centred over the cells: with few classes it is wider than they are, and needs margins for it.
    overhang = max(0.0, 0.08 * len(full_title) - cell * size) / 2 + 0.1
    left, bottom, top, right = max(0.7 + name_width, overhang), 0.75, 0.45, max(0.25, overhang)
    width, height = left + cell * size + right, bottom + 0.45 * size + top
    figure = Figure(figsize=(width, height))
    axes = figure.add_axes((left / width, bottom / height, cell * size / width, 0.45 * size / height))
    axes.imshow(shares.numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for row, column in counts.nonzero().tolist():
        share = shares[row, column].item()
        color = "white" if share > 0.6 else "black"
        axes.text(column, row, f"{share:.2f}", ha="center", va="center", color=color, fontsize=9)
    axes.set_xticks(range(size), class_names, fontsize=9)
    axes.set_yticks(range(size), class_names, fontsize=9)
    axes.tick_params(length=0)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(full_title, fontsize=10)
    return figure
