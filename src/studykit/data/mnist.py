"""MNIST: 60,000 train and 10,000 test handwritten digits, 1x28x28, from the official IDX files."""

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from studykit.data.cache import cached
from studykit.data.images import ImageDataModule
from studykit.data.sources import locate
from studykit.errors import DataError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class MNISTDataModule(ImageDataModule):
    input_shape = (1, 28, 28)
    num_classes = 10
    class_names = [str(digit) for digit in range(10)]

    def load_official(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        directory = Path(self.data_dir) / "mnist"
        # Also the folder torchvision.datasets.MNIST downloads into, for users who already have it.
        torchvision_raw = Path(self.data_dir) / "MNIST" / "raw"
        accepted = {name: (file, file + ".gz") for name, file in FILES.items()}
        paths = locate(accepted, [directory, torchvision_raw], download_mnist if self.download else None)
        cache_path = directory / "processed" / "mnist.pt" if self.cache else None
        data = cached(cache_path, list(paths.values()), lambda: read_mnist(paths))
        return data["train_images"], data["train_labels"], data["test_images"], data["test_labels"]


def read_mnist(paths: dict[str, Path]) -> dict[str, Tensor]:
    data = {}
    for split in ("train", "test"):
        images, labels = read_idx(paths[f"{split}_images"]), read_idx(paths[f"{split}_labels"])
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{paths[f'{split}_images']} holds images of shape {images.shape[1:]}, not 28x28")
        if labels.ndim != 1 or len(labels) != len(images) or labels.max(initial=0) > 9:
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


def download_mnist(folder: Path) -> None:
    from torchvision.datasets import MNIST
    from torchvision.datasets.utils import download_url

    for file, md5 in MNIST.resources:
        errors = []
        for mirror in MNIST.mirrors:
            try:
                download_url(mirror + file, folder, file, md5)
                break
            except Exception as error:  # try the next mirror
                errors.append(f"{mirror}: {error}")
        else:
            raise OSError("; ".join(errors))
