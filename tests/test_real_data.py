"""The real MNIST, CIFAR-10 and IMDB copies in ../shared/data: counts per split and class, shapes, dtypes,
value ranges, vocabulary; one epoch of a small network on a slice; an offline run as a user types it."""

import pytest
import torch

from conftest import read_json, requires_real, run_script, train_in_process
from studykit.data.cifar10 import CIFAR10DataModule
from studykit.data.imdb import IMDBDataModule
from studykit.data.mnist import MNISTDataModule

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def class_counts(*label_tensors):
    return torch.bincount(torch.cat(label_tensors)).tolist()


@requires_real("mnist")
def test_real_mnist(real_data_dir):
    module = MNISTDataModule(data_dir=str(real_data_dir), download=False)
    splits = module.load_splits()
    assert {split: len(labels) for split, (_, labels) in splits.items()} == {"train": 54000, "val": 6000, "test": 10000}
    assert class_counts(splits["train"][1], splits["val"][1]) == MNIST_TRAIN_COUNTS
    assert class_counts(splits["test"][1]) == MNIST_TEST_COUNTS
    images = splits["test"][0]
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.uint8
    assert images.min() == 0 and images.max() == 255
    assert abs(images.float().mean().item() / 255 - 0.1325) < 0.001  # the published MNIST test mean


@requires_real("mnist")
def test_one_epoch_on_a_slice_of_mnist(real_data_dir, tmp_path):
    run_dir = tmp_path / "run"
    overrides = ["data=mnist", f"paths.data_dir={real_data_dir}", "model.hidden=128", "model.depth=2"]
    summary = train_in_process(run_dir, *overrides, "trainer.max_epochs=1", "trainer.limit_train_batches=100")
    assert summary["params"] == 784 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    assert summary["test_acc"] > 0.8


@pytest.mark.slow  # builds the CIFAR-10 batches first
@requires_real("cifar10")
def test_real_cifar10_and_one_epoch_on_a_slice(real_cifar10_dir, tmp_path):
    splits = CIFAR10DataModule(data_dir=str(real_cifar10_dir), download=False).load_splits()
    assert {split: len(labels) for split, (_, labels) in splits.items()} == {"train": 45000, "val": 5000, "test": 10000}
    assert class_counts(splits["train"][1], splits["val"][1]) == [5000] * 10
    assert class_counts(splits["test"][1]) == [1000] * 10
    images = splits["train"][0]
    assert images.shape == (45000, 3, 32, 32) and images.dtype == torch.uint8
    channel_means = images[:5000].float().mean(dim=(0, 2, 3)) / 255
    assert torch.allclose(channel_means, torch.tensor([0.4914, 0.4822, 0.4465]), atol=0.01)

    overrides = ["data=cifar10", f"paths.data_dir={real_cifar10_dir}", "data.augment=true", "model.hidden=64"]
    summary = train_in_process(tmp_path / "run", *overrides, "trainer.max_epochs=1", "trainer.limit_train_batches=200")
    assert summary["test_acc"] > 0.2  # 10 classes: chance is 0.1


@requires_real("imdb")
def test_real_imdb(real_data_dir):
    module = IMDBDataModule(data_dir=str(real_data_dir), download=False)
    splits = module.load_splits()
    assert {split: len(labels) for split, (_, labels) in splits.items()} == {"train": 20000, "val": 5000, "test": 25000}
    assert class_counts(splits["train"][1], splits["val"][1]) == [12500, 12500]
    assert class_counts(splits["test"][1]) == [12500, 12500]
    ids = splits["test"][0]
    assert ids.shape == (25000, 500) and ids.min() == 0 and ids.max() == 4999
    assert len(module.vocabulary) == 5000 and module.vocabulary[:4] == ["<pad>", "<unk>", "the", "and"]
    unknown_share = (ids == 1).sum() / (ids > 0).sum()
    assert 0.03 < unknown_share < 0.15  # 5000 words cover most of the running text


@pytest.mark.slow
@requires_real("mnist")
def test_offline_run_from_the_command_line(real_data_dir, tmp_path):
    result = run_script(
        "train.py",
        "data=mnist",
        "model=mlp",
        "trainer.max_epochs=1",
        log_dir=tmp_path,
        env={"DATA_DIR": str(real_data_dir)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (metrics_path,) = (tmp_path / "runs").glob("*/metrics.json")
    metrics = read_json(metrics_path)
    assert metrics["epochs"] == 1 and metrics["test_acc"] > 0.9
