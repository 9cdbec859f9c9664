"""Confusion counts and their row normalization on hand-made examples, checked against torchmetrics, and the
figure drawn from them."""

import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from studykit.classifier import confusion_counts
from studykit.outputs.confusion_figure import confusion_figure, normalize_rows
from studykit.outputs.pictures import pixels, png

TARGETS = torch.tensor([0, 0, 0, 0, 1, 2, 2, 2, 2, 2])
PREDICTIONS = torch.tensor([0, 0, 1, 0, 1, 2, 0, 2, 1, 2])


def test_counts_match_torchmetrics():
    assert torch.equal(confusion_counts(PREDICTIONS, TARGETS, 3), MulticlassConfusionMatrix(3)(PREDICTIONS, TARGETS))
    assert confusion_counts(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 4).sum() == 0


def test_rows_sum_to_one_and_empty_rows_stay_zero():
    counts = torch.tensor([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    expected = torch.tensor([[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]], dtype=torch.float64)
    assert torch.equal(normalize_rows(counts), expected)


def test_matches_torchmetrics_true_normalization():
    counts = MulticlassConfusionMatrix(3)(PREDICTIONS, TARGETS)
    reference = MulticlassConfusionMatrix(3, normalize="true")(PREDICTIONS, TARGETS)
    assert torch.allclose(normalize_rows(counts).float(), reference)


def test_figure_names_the_accuracy_prints_two_decimals_and_leaves_zero_cells_blank():
    counts = torch.tensor([[3, 1], [0, 4]])
    figure = confusion_figure(counts, ["cat", "dog"], "test")
    axes = figure.axes[0]
    assert axes.get_title() == "test: accuracy 0.8750"
    assert sorted(text.get_text() for text in axes.texts) == ["0.25", "0.75", "1.00"]  # no "0.00" for the empty cell
    assert [label.get_text() for label in axes.get_xticklabels()] == ["cat", "dog"]
    assert all(label.get_rotation() == 0 for label in axes.get_xticklabels())
    image = pixels(figure)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype.name == "uint8"
    assert png(image)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_two_class_title_fits_the_picture():
    from studykit.outputs.pictures import pixels

    figure = confusion_figure(torch.tensor([[40, 3], [5, 52]]), ["outer", "inner"], "test (normalized)")
    figure.set_dpi(80)
    image = pixels(figure)
    title_band = image[: image.shape[0] // 5]  # the title's row, above the cells
    assert (title_band[:, :3] == 255).all() and (title_band[:, -3:] == 255).all()  # no letter cut at an edge
    assert (title_band < 128).any()  # and the title is there
