"""CIFAR-10: 50,000 train and 10,000 test colour images, 3x32x32, 10 classes, from the official python batches."""

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from studykit.data.cache import cached, labelled_data_problem
from studykit.data.images import ImageDataModule
from studykit.data.sources import locate
from studykit.errors import DataError

BATCHES = {"train": [f"data_batch_{number}" for number in range(1, 6)], "test": ["test_batch"]}
FOLDER = "cifar-10-batches-py"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class CIFAR10DataModule(ImageDataModule):
    input_shape = (3, 32, 32)
    num_classes = 10
    class_names = CLASS_NAMES

    def load_official(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        root = Path(self.data_dir)
        # <data_dir>/cifar10/cifar-10-batches-py (the project's layout), or <data_dir>/cifar-10-batches-py
        # (torchvision's).
        directories = [root / "cifar10" / FOLDER, root / FOLDER]
        files = {name: (name,) for names in BATCHES.values() for name in names}
        paths = locate(files, directories, download_cifar10 if self.download else None)
        cache_path = root / "cifar10" / "processed" / "cifar10.pt" if self.cache else None
        data = cached(
            cache_path,
            list(paths.values()),
            lambda: read_cifar10(paths),
            problem=lambda data: labelled_data_problem(data, self.num_classes),
        )
        return data["train_images"], data["train_labels"], data["test_images"], data["test_labels"]


def read_cifar10(paths: dict[str, Path]) -> dict[str, Tensor]:
    data = {}
    for split, names in BATCHES.items():
        images, labels = zip(*(read_batch(paths[name]) for name in names), strict=True)
        data[f"{split}_images"] = torch.from_numpy(np.concatenate(images)).view(-1, 3, 32, 32)
        data[f"{split}_labels"] = torch.from_numpy(np.concatenate(labels))
    return data


class _ArraysOnly(pickle.Unpickler):
    """Unpickles only what the official batches contain (dicts, bytes, lists, numpy arrays): a pickle can
    name any callable, and loading one from a data file must not run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One official batch: `(images uint8 (N, 3072), labels int64 (N,))`."""
    try:
        with open(path, "rb") as file:
            batch = _ArraysOnly(file, encoding="latin1").load()
        images = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except Exception as error:  # truncated, not a pickle, or a pickle of something else
        raise DataError(f"{path} is not a CIFAR-10 python batch (truncated or corrupt?): {error}") from None
    valid_labels = labels.min(initial=0) >= 0 and labels.max(initial=0) <= 9
    if images.ndim != 2 or images.shape[1] != 3072 or labels.shape != (len(images),) or not valid_labels:
        raise DataError(f"{path} is not a CIFAR-10 batch: data {images.shape}, labels {labels.shape}")
    return images, labels


def download_cifar10(folder: Path) -> None:
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    archive = folder / "archive"
    download_and_extract_archive(CIFAR10.url, archive, filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)
    for item in (archive / FOLDER).iterdir():
        item.rename(folder / item.name)
    (archive / CIFAR10.filename).unlink()
    archive.rmdir()
