"""Confusion counts and their row normalization on hand-made examples, checked against torchmetrics, and the
picture drawn from them."""

import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from studykit.outputs.confusion_image import blues, cells, confusion_image, normalize_rows, title_of
from studykit.outputs.pictures import png

TARGETS = torch.tensor([0, 0, 0, 0, 1, 2, 2, 2, 2, 2])
PREDICTIONS = torch.tensor([0, 0, 1, 0, 1, 2, 0, 2, 1, 2])


def test_rows_sum_to_one_and_empty_rows_stay_zero():
    counts = torch.tensor([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    expected = torch.tensor([[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]], dtype=torch.float64)
    assert torch.equal(normalize_rows(counts), expected)


def test_matches_torchmetrics_true_normalization():
    counts = MulticlassConfusionMatrix(3)(PREDICTIONS, TARGETS)
    reference = MulticlassConfusionMatrix(3, normalize="true")(PREDICTIONS, TARGETS)
    assert torch.allclose(normalize_rows(counts).float(), reference)


def test_image_names_the_accuracy_prints_two_decimals_and_leaves_zero_cells_blank():
    counts = torch.tensor([[3, 1], [0, 4]])
    assert title_of(counts, "test") == "test: accuracy 0.8750"
    printed = cells(counts)
    assert sorted(cell.text for cell in printed) == ["0.25", "0.75", "1.00"]  # no "0.00" for the empty cell
    assert [(cell.row, cell.column, cell.dark) for cell in printed] == [(0, 0, True), (0, 1, False), (1, 1, True)]
    image = confusion_image(counts, ["cat", "dog"], "test")
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype.name == "uint8"
    assert png(image)[:8] == b"\x89PNG\r\n\x1a\n"
    # At 80 dpi: cells 40 x 36 pixels, the first at (75, 36) (the margins the title's width asks for). The full
    # cell (1, 1) is the map's darkest blue in its corner, the empty cell (1, 0) its palest throughout: no text.
    assert image.shape == (168, 190, 3)
    assert (image[74:78, 117:121] == blues()[255]).all()
    assert (image[73:107, 76:114] == blues()[0]).all()
    assert (image[73:107, 116:154] == 255).any()  # the white "1.00"


def test_a_two_class_title_fits_the_picture():
    image = confusion_image(torch.tensor([[40, 3], [5, 52]]), ["outer", "inner"], "test (normalized)")
    title_band = image[: image.shape[0] // 5]  # the title's row, above the cells
    assert (title_band[:, :3] == 255).all() and (title_band[:, -3:] == 255).all()  # no letter cut at an edge
    assert (title_band < 128).any()  # and the title is there
