"""Handwritten digits, 8x8 pixel counts as 64 features: scikit-learn's bundled copy or the full UCI set."""

import functools
import urllib.request
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from studykit.data.in_memory import FileDataModule, require_split_fractions, stratified_split, three_way_split
from studykit.data.sources import locate
from studykit.errors import ConfigError, DataError, require_choice, require_fraction

UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/optdigits/"
UCI_FILES = {"train": "optdigits.tra", "test": "optdigits.tes"}
SOURCES = ("sklearn", "uci")
# "official": the UCI test file (other writers) is the test split; "pooled": one stratified split of all.
SPLIT_MODES = ("pooled", "official")


class DigitsDataModule(FileDataModule):
    input_kind = "features"
    input_shape = (64,)
    num_classes = 10
    class_names = [str(digit) for digit in range(10)]

    def __init__(self, source: str = "sklearn", split: str = "pooled", test_fraction: float = 0.2, **settings):
        """`settings`: those of `FileDataModule`, but `cache`: the files are small enough to parse each time."""
        super().__init__(cache=False, **settings)
        self.source = require_choice("source", source, SOURCES)
        self.split = require_choice("split", split, SPLIT_MODES)
        if source == "sklearn" and split == "official":
            raise ConfigError("split", split, "source 'sklearn' has no separate test file; use pooled or source=uci")
        if split == "pooled":
            self.val_fraction, self.test_fraction = require_split_fractions(self.val_fraction, test_fraction)
        else:
            self.test_fraction = require_fraction("test_fraction", test_fraction)
        self.directory = Path(self.data_dir) / "optdigits"

    def load_splits(self):
        if self.source == "sklearn":
            from sklearn.datasets import load_digits  # sklearn.datasets alone takes 0.1 s to import

            bunch = load_digits()
            parts = {"pool": (bunch.data, bunch.target)}
        else:
            files = {part: (name,) for part, name in UCI_FILES.items()}
            paths = locate(files, [self.directory], download_uci if self.download else None)
            parts = {part: read_uci_file(path) for part, path in paths.items()}
            if self.split == "pooled":
                parts = {
                    "pool": tuple(np.concatenate(arrays) for arrays in zip(parts["train"], parts["test"], strict=True))
                }
        if self.split == "official":
            fraction = self.val_fraction
            train_x, val_x, train_y, val_y = stratified_split(
                *parts["train"], fraction, "data.val_fraction", fraction, self.num_classes, self.seed
            )
            splits = {"train": (train_x, train_y), "val": (val_x, val_y), "test": parts["test"]}
        else:
            splits = three_way_split(*parts["pool"], self.val_fraction, self.test_fraction, self.num_classes, self.seed)
        scaler = StandardScaler().fit(splits["train"][0])
        return {
            split: (
                torch.from_numpy(scaler.transform(x).astype(np.float32)),
                torch.from_numpy(np.asarray(y, dtype=np.int64)),
            )
            for split, (x, y) in splits.items()
        }


def download_uci(folder: Path) -> None:
    for name in UCI_FILES.values():
        with urllib.request.urlopen(UCI_URL + name, timeout=30) as response:
            (folder / name).write_bytes(response.read())


def read_uci_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a UCI optdigits file: one sample per line, 64 counts 0..16 then the class 0..9. Parsed once per
    process while the file stays the same (a sweep's runs share a process), read-only arrays."""
    stat = Path(path).stat()
    return _parsed_uci_file(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _parsed_uci_file(path: str, size: int, modified: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as error:
        raise DataError(f"{path} is not a UCI optdigits file: {error}") from None
    if table.shape[1] != 65 or table.shape[0] == 0:
        raise DataError(f"{path} is not a UCI optdigits file: expected rows of 65 integers, got shape {table.shape}")
    features, labels = table[:, :64], table[:, 64]
    if features.min() < 0 or features.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path} is not a UCI optdigits file: counts must be 0..16 and classes 0..9")
    features = features.astype(np.float64)
    for array in (features, labels):
        array.setflags(write=False)
    return features, labels
