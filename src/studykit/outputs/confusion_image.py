"""Row-normalized confusion matrices drawn from counts and class names: the share of each true class (row)
given each prediction (column), zero cells left blank, the accuracy in the title.

Drawn with Pillow, not matplotlib: a matplotlib figure of ten classes takes 75 ms to draw (its 120 texts laid out
one by one), a run draws three and a stacked sweep three per member; this takes a few milliseconds. The layout is
a matplotlib figure's at 80 dpi (its font, its colour map, upright class names, cells as wide as the longest)."""

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

DPI = 80
SMALL, LARGE = 10, 11  # pixels: 9 and 10 points at DPI
PAD = 4  # pixels between the cells and their class names, and between those and the axis labels


def normalize_rows(counts: Tensor) -> Tensor:
    """Each row (a true class) divided by its count: the share of that class given each prediction."""
    counts = counts.double()
    return counts / counts.sum(dim=1, keepdim=True).clamp(min=1)


def accuracy(counts: Tensor) -> float:
    return counts.trace().item() / max(counts.sum().item(), 1)


@dataclass
class Cell:
    row: int
    column: int
    text: str
    dark: bool  # the text then drawn in white


def cells(counts: Tensor) -> list[Cell]:
    """The printed cells: every non-zero count's share with two decimals."""
    shares = normalize_rows(counts)
    return [
        Cell(row, column, f"{shares[row, column].item():.2f}", shares[row, column].item() > 0.6)
        for row, column in counts.nonzero().tolist()
    ]


def title_of(counts: Tensor, title: str) -> str:
    return f"{title}: accuracy {accuracy(counts):.4f}"


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


@functools.cache
def blues() -> np.ndarray:
    """matplotlib's "Blues" colour map as 256 RGB rows."""
    from matplotlib import colormaps

    return (colormaps["Blues"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def confusion_image(counts: Tensor, class_names: list[str], title: str) -> np.ndarray:
    """The matrix as `(height, width, 3)` uint8 RGB pixels, the accuracy in the title."""
    counts = torch.as_tensor(counts)
    shares = normalize_rows(counts)
    size = len(class_names)
    name_width = 0.08 * max(len(name) for name in class_names)  # inches at 9 points
    cell = max(0.5, name_width + 0.1)
    full_title = title_of(counts, title)
    # The title is centred over the cells: with few classes it is wider than they are, and needs margins for it.
    overhang = max(0.0, 0.08 * len(full_title) - cell * size) / 2 + 0.1
    left, bottom, top, right = max(0.7 + name_width, overhang), 0.75, 0.45, max(0.25, overhang)
    width, height = left + cell * size + right, bottom + 0.45 * size + top
    image = Image.new("RGB", (round(width * DPI), round(height * DPI)), "white")
    draw = ImageDraw.Draw(image)
    xs = [round((left + cell * column) * DPI) for column in range(size + 1)]
    ys = [round((top + 0.45 * row) * DPI) for row in range(size + 1)]
    colours = blues()[(shares.numpy() * 255).round().astype(int)]
    for row in range(size):
        for column in range(size):
            box = (xs[column], ys[row], xs[column + 1] - 1, ys[row + 1] - 1)
            draw.rectangle(box, fill=tuple(int(c) for c in colours[row, column]))
    for found in cells(counts):
        middle = ((xs[found.column] + xs[found.column + 1]) / 2, (ys[found.row] + ys[found.row + 1]) / 2)
        colour = "white" if found.dark else "black"
        draw.text(middle, found.text, fill=colour, font=font(SMALL), anchor="mm")
    draw.rectangle((xs[0], ys[0], xs[-1], ys[-1]), outline="black")
    for index, name in enumerate(class_names):
        draw.text(((xs[index] + xs[index + 1]) / 2, ys[-1] + PAD), name, fill="black", font=font(SMALL), anchor="mt")
        draw.text((xs[0] - PAD, (ys[index] + ys[index + 1]) / 2), name, fill="black", font=font(SMALL), anchor="rm")
    middle_x, middle_y = (xs[0] + xs[-1]) / 2, (ys[0] + ys[-1]) / 2
    draw.text((middle_x, ys[-1] + 3 * PAD + SMALL), "predicted class", fill="black", font=font(LARGE), anchor="mt")
    draw.text((middle_x, ys[0] - 2 * PAD), full_title, fill="black", font=font(LARGE), anchor="md")
    names_left = xs[0] - PAD - max(draw.textlength(name, font=font(SMALL)) for name in class_names)
    _vertical_text(image, "true class", right=round(names_left - 2 * PAD), middle=middle_y)
    return np.asarray(image)


def _vertical_text(image: Image.Image, text: str, right: int, middle: float) -> None:
    """`text` turned a quarter to the left, its right edge at `right`, centred on `middle`."""
    left, upper, end, lower = font(LARGE).getbbox(text)
    label = Image.new("L", (end - left, lower - upper), 0)
    ImageDraw.Draw(label).text((-left, -upper), text, fill=255, font=font(LARGE))
    label = label.rotate(90, expand=True)
    image.paste((0, 0, 0), (right - label.width, round(middle - label.height / 2)), mask=label)
