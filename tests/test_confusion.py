"""Confusion-matrix normalization on a hand-made example, and its figure."""

import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from studykit.callbacks.confusion_images import confusion_figure, normalize_rows


def test_rows_sum_to_one_and_empty_rows_stay_zero():
    counts = torch.tensor([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    expected = torch.tensor([[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]], dtype=torch.float64)
    assert torch.equal(normalize_rows(counts), expected)


def test_matches_torchmetrics_true_normalization():
    targets = torch.tensor([0, 0, 0, 0, 1, 2, 2, 2, 2, 2])
    predictions = torch.tensor([0, 0, 1, 0, 1, 2, 0, 2, 1, 2])
    counts = MulticlassConfusionMatrix(3)(predictions, targets)
    reference = MulticlassConfusionMatrix(3, normalize="true")(predictions, targets)
    assert torch.allclose(normalize_rows(counts).float(), reference)


def test_figure_title_holds_accuracy_and_cells_hold_values():
    counts = torch.tensor([[3, 1], [0, 4]])
    figure = confusion_figure(counts, ["cat", "dog"], "test", MulticlassConfusionMatrix(2))
    axes = figure.axes[0]
    assert axes.get_title() == "test: accuracy 0.8750"
    assert sorted(text.get_text() for text in axes.texts) == ["0.0", "0.25", "0.75", "1.0"]
