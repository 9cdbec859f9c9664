"""Where data comes from: the data dir, else a download into it, else one error naming files and folder;
a failed download leaves nothing behind."""

import pytest

from official_formats import tiny_mnist
from studykit.data.cifar10 import CIFAR10DataModule
from studykit.data.fashion_mnist import FashionMNISTDataModule
from studykit.data.mnist import MNISTDataModule
from studykit.data.sources import locate
from studykit.errors import DataError


def test_a_finished_download_is_moved_into_the_data_dir(tmp_path, monkeypatch):
    source = tmp_path / "mirror"
    tiny_mnist(source)

    def download(self, folder):
        for file in (source / "mnist").iterdir():
            (folder / file.name).write_bytes(file.read_bytes())

    monkeypatch.setattr(MNISTDataModule, "download_files", download)
    data_dir = tmp_path / "data"
    assert MNISTDataModule(data_dir=str(data_dir)).split_sizes() == {"train": 90, "val": 10, "test": 20}
    assert sorted(path.name for path in data_dir.iterdir()) == ["mnist"]


def test_a_failed_download_leaves_nothing_and_says_why(tmp_path):
    def download(folder):
        (folder / "train-images-idx3-ubyte.gz").write_bytes(b"half of a file")
        raise ConnectionError("connection reset")

    with pytest.raises(DataError) as error:
        locate({"images": ("train-images-idx3-ubyte.gz",)}, [tmp_path / "mnist"], download)
    assert "downloading failed: ConnectionError: connection reset" in str(error.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module", [MNISTDataModule, FashionMNISTDataModule, CIFAR10DataModule])
def test_without_network_the_real_download_code_fails_with_the_files_and_the_folder(tmp_path, module, monkeypatch):
    # Point every mirror at a closed local port, so the torchvision download code runs and fails at once
    # whether or not this machine has internet.
    monkeypatch.setattr("torchvision.datasets.MNIST.mirrors", ["http://127.0.0.1:9/"])
    monkeypatch.setattr("torchvision.datasets.FashionMNIST.mirrors", ["http://127.0.0.1:9/"])
    monkeypatch.setattr("torchvision.datasets.CIFAR10.url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(DataError) as error:
        module(data_dir=str(tmp_path)).load_splits()
    message = str(error.value)
    assert "not found in" in message and "downloading failed" in message and "DATA_DIR" in message
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]
