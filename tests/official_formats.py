"""Writers of tiny data files in the official formats (IDX, CIFAR-10 python batches, IMDB Parquet), so the
real parsing code runs in tests without the real data."""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pyarrow
import pyarrow.parquet

from studykit.data import cifar10, idx


def write_idx(path: Path, array: np.ndarray) -> None:
    content = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    content += array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)


def tiny_mnist(
    data_dir: Path, train: int = 100, test: int = 20, gzipped: bool = True, folder: str = "mnist"
) -> dict[str, np.ndarray]:
    """IDX files in `data_dir/folder` (MNIST's, or another IDX data set's): images whose first pixel is the
    sample's index (mod 256) and labels cycling 0..9; returns the arrays."""
    arrays = {}
    for split, count in (("train", train), ("test", test)):
        images = np.zeros((count, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = np.arange(count) % 256
        images[:, 27, 27] = 255
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, np.arange(count) % 10
    for name, file in idx.FILES.items():
        write_idx(data_dir / folder / (file + (".gz" if gzipped else "")), arrays[name])
    return arrays


def write_cifar_batch(path: Path, images: np.ndarray, labels: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {"batch_label": "tiny", "labels": labels, "data": images.reshape(len(labels), -1), "filenames": []}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def tiny_cifar10(data_dir: Path, per_batch: int = 20) -> np.ndarray:
    """Six batches of `per_batch` random images (labels cycling 0..9); returns the training images (N, 3, 32, 32)."""
    rng = np.random.default_rng(0)
    folder = data_dir / "cifar10" / cifar10.FOLDER
    train = []
    for name in [*cifar10.BATCHES["train"], *cifar10.BATCHES["test"]]:
        images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        write_cifar_batch(folder / name, images, [index % 10 for index in range(per_batch)])
        if name.startswith("data"):
            train.append(images)
    return np.concatenate(train)


def write_reviews(path: Path, texts: list[str], labels: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pyarrow.table(
        {"text": pyarrow.array(texts, pyarrow.string()), "label": pyarrow.array(labels, pyarrow.int64())}
    )
    pyarrow.parquet.write_table(table, path)


TINY_REVIEWS = [
    ("A great movie, great acting.<br /><br />Loved it!", 1),
    ("Great fun and a great cast", 1),
    ("What a great film", 1),
    ("Boring. Awful plot, awful acting.", 0),
    ("The worst film I've seen: boring", 0),
    ("awful awful awful", 0),
]


def tiny_imdb(data_dir: Path, copies: int = 5) -> None:
    texts, labels = zip(*(TINY_REVIEWS * copies), strict=True)
    for split in ("train", "test"):
        write_reviews(data_dir / "imdb" / f"{split}.parquet", list(texts), list(labels))
