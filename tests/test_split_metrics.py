"""What a run measures per split (studykit.split_metrics), on hand-made outputs: the weighted mean loss, the
accuracy and confusion counts of the most likely classes, a single-logit network's scores, and the metrics a
config adds, checked against numbers worked out here and against scikit-learn."""

import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score
from torchmetrics.classification import MulticlassF1Score, MulticlassRecall

from studykit.classifier import predictions
from studykit.split_metrics import SplitMetrics, check_one_number, class_scores

TARGETS = torch.tensor([0, 0, 0, 0, 1, 2, 2, 2, 2, 2])
PREDICTED = torch.tensor([0, 0, 1, 0, 1, 2, 0, 2, 1, 2])
LOGITS = torch.nn.functional.one_hot(PREDICTED, 3).float() * 2 + torch.linspace(0, 0.5, 30).view(10, 3)


def test_an_epoch_gives_the_weighted_mean_loss_and_the_accuracy():
    metrics = SplitMetrics(3)
    losses, sizes = torch.tensor([1.0, 4.0]), torch.tensor([8, 2])  # the last batch is short
    values = metrics.epoch("val", losses, sizes, LOGITS, TARGETS)
    assert sorted(values) == ["val/acc", "val/loss"]
    assert values["val/loss"] == pytest.approx((1.0 * 8 + 4.0 * 2) / 10)
    assert values["val/acc"] == pytest.approx(7 / 10)
    again = metrics.epoch("val", losses, sizes, LOGITS[:4], TARGETS[:4])  # the states start afresh each epoch
    assert again["val/acc"] == pytest.approx(3 / 4)


def test_confusion_counts_are_true_class_by_predicted_class():
    counts = SplitMetrics(3).confusion_matrix(LOGITS, TARGETS)
    assert counts.tolist() == [[3, 1, 0], [0, 1, 0], [1, 1, 3]]


def test_a_single_logit_is_scored_as_two_classes_with_the_classifiers_predictions():
    logits = torch.tensor([[-1.5], [0.0], [2.0]])
    scores = class_scores(logits)
    assert scores.tolist() == [[0.0, -1.5], [0.0, 0.0], [0.0, 2.0]]
    assert scores.argmax(-1).tolist() == predictions(logits).tolist() == [0, 0, 1]
    assert torch.allclose(scores.softmax(-1)[:, 1], torch.sigmoid(logits.squeeze(1)))


def test_added_metrics_are_measured_per_split_and_equal_scikit_learns():
    metrics = SplitMetrics(3, {"f1_macro": MulticlassF1Score(3, average="macro")})
    assert metrics.names == ("loss", "acc", "f1_macro")
    values = metrics.epoch("test", torch.tensor([1.0]), torch.tensor([10]), LOGITS, TARGETS)
    assert values["test/f1_macro"] == pytest.approx(f1_score(TARGETS, PREDICTED, average="macro"))
    train = metrics.added_metrics("train", LOGITS[:5], TARGETS[:5])  # another split: its own states
    assert list(train) == ["train/f1_macro"]
    assert train["train/f1_macro"] == pytest.approx(f1_score(TARGETS[:5], PREDICTED[:5], average="macro"))


def test_auroc_of_a_single_logit_network_is_the_binary_auroc():
    from torchmetrics.classification import MulticlassAUROC

    logits, targets = torch.tensor([[-2.0], [0.5], [-0.3], [1.0], [0.2]]), torch.tensor([0, 1, 0, 1, 0])
    values = SplitMetrics(2, {"auroc": MulticlassAUROC(2)}).added_metrics("val", logits, targets)
    assert values["val/auroc"] == pytest.approx(roc_auc_score(targets, logits.squeeze(1)))


def test_a_metric_that_is_not_one_number_is_refused():
    assert check_one_number("f1", MulticlassF1Score(3, average="macro"), 3) is None
    assert "more than one number" in check_one_number("recall", MulticlassRecall(3, average=None), 3)


def test_a_nan_loss_is_reported_as_nan():
    values = SplitMetrics(3).epoch("val", torch.tensor([1.0, float("nan")]), torch.tensor([8, 2]), LOGITS, TARGETS)
    assert values["val/loss"].isnan()


def test_confusion_counts_are_the_same_with_deterministic_algorithms_and_leave_the_setting_as_it_was():
    logits, targets = torch.randn(5000, 10), torch.randint(0, 10, (5000,))
    free = SplitMetrics(10).confusion_matrix(logits, targets)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert torch.equal(SplitMetrics(10).confusion_matrix(logits, targets), free)
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
    expected = torch.zeros(10, 10, dtype=torch.long)
    for true, predicted in zip(targets.tolist(), logits.argmax(1).tolist(), strict=True):
        expected[true, predicted] += 1
    assert torch.equal(free, expected)


def test_loss_and_accuracy_states_follow_the_module_to_its_device_and_dtype():
    """Plain tensors only (no float64: MPS has none), made on the states' own device."""
    metrics = SplitMetrics(3)
    states = {name: value for name, value in metrics.base[0].metric_state.items()}
    assert {name: value.dtype for name, value in states.items()} == {"loss_sum": torch.float32, "counts": torch.long}
    if torch.cuda.is_available():  # on a GPU machine: the whole epoch on the device
        metrics.cuda()
        values = metrics.epoch("val", torch.ones(2).cuda(), torch.tensor([8, 2]).cuda(), LOGITS.cuda(), TARGETS.cuda())
        assert values["val/acc"].item() == pytest.approx(0.7)
