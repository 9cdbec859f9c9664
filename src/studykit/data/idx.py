"""Image data sets kept as IDX files, MNIST's format: four files (train and test images and labels, gzipped or
not), read whole, cached as tensors, and downloaded through torchvision's list of mirrors when absent.

A new IDX data set is a subclass that names its folder, torchvision's class for it (its mirrors and
checksums) and its class names, and a YAML file in configs/data/ (see fashion_mnist.py).
"""

import gzip
import math
import struct
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from studykit.data.cache import cached, labelled_data_problem
from studykit.data.images import ImageDataModule
from studykit.data.sources import locate
from studykit.errors import DataError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class IDXDataModule(ImageDataModule):
    """`folder`: the data set's folder in the data dir; `torchvision_class`: the name of its class in
    `torchvision.datasets`, whose download folder (`<data_dir>/<class>/raw`) is searched too."""

    input_shape = (1, 28, 28)
    num_classes = 10
    folder: ClassVar[str]
    torchvision_class: ClassVar[str]

    def load_official(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        directory = Path(self.data_dir) / self.folder
        torchvision_raw = Path(self.data_dir) / self.torchvision_class / "raw"
        accepted = {name: (file, file + ".gz") for name, file in FILES.items()}
        paths = locate(accepted, [directory, torchvision_raw], self.download_files if self.download else None)
        cache_path = directory / "processed" / f"{self.folder}.pt" if self.cache else None
        data = cached(
            cache_path,
            list(paths.values()),
            lambda: read_idx_set(paths, self.input_shape, self.num_classes),
            problem=lambda data: labelled_data_problem(data, self.num_classes),
        )
        return data["train_images"], data["train_labels"], data["test_images"], data["test_labels"]

    def download_files(self, folder: Path) -> None:
        """The four files from the first of torchvision's mirrors that has each, checked against its md5."""
        import torchvision.datasets
        from torchvision.datasets.utils import download_url

        dataset = getattr(torchvision.datasets, self.torchvision_class)
        for file, md5 in dataset.resources:
            errors = []
            for mirror in dataset.mirrors:
                try:
                    download_url(mirror + file, folder, file, md5)
                    break
                except Exception as error:  # try the next mirror
                    errors.append(f"{mirror}: {error}")
            else:
                raise OSError("; ".join(errors))


def read_idx_set(paths: dict[str, Path], input_shape: tuple[int, ...], num_classes: int) -> dict[str, Tensor]:
    """`{train,test}_{images,labels}` from the four files, checked against the data set's shape and classes."""
    data = {}
    size = "x".join(map(str, input_shape[1:]))
    for split in ("train", "test"):
        images, labels = read_idx(paths[f"{split}_images"]), read_idx(paths[f"{split}_labels"])
        if images.ndim != 3 or images.shape[1:] != tuple(input_shape[1:]):
            raise DataError(f"{paths[f'{split}_images']} holds images of shape {images.shape[1:]}, not {size}")
        if labels.ndim != 1 or len(labels) != len(images) or labels.max(initial=0) >= num_classes:
            raise DataError(
                f"{paths[f'{split}_labels']} does not match {paths[f'{split}_images'].name}: "
                f"{labels.shape} labels (max {labels.max(initial=0)}) for {len(images)} images"
            )
        data[f"{split}_images"] = torch.from_numpy(images.copy()).unsqueeze(1)
        data[f"{split}_labels"] = torch.from_numpy(labels.astype(np.int64))
    return data


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (gzipped or not) as an array of the shape its header gives."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError) as error:
        raise DataError(f"{path} cannot be read (truncated or corrupt?): {error}") from None
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an IDX file of unsigned bytes (it starts with {raw[:4].hex() or 'nothing'})")
    header = 4 + 4 * raw[3]
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header")
    shape = struct.unpack(f">{raw[3]}I", raw[4:header])
    if len(raw) - header != math.prod(shape):
        raise DataError(
            f"{path} is truncated or corrupt: its header announces {shape} = {math.prod(shape)} bytes, "
            f"it holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
