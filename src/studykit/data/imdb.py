"""IMDB movie reviews: 25,000 train and 25,000 test, positive or negative, as rows of word ids."""

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from studykit.data import text
from studykit.data.cache import cached, labelled_data_problem
from studykit.data.in_memory import FileDataModule, carve_validation
from studykit.data.sources import locate
from studykit.errors import DataError, require_int_at_least

SPLIT_FILES = {"train": "train.parquet", "test": "test.parquet"}
HF_DATASET = "stanfordnlp/imdb"


class IMDBDataModule(FileDataModule):
    """`settings`: those of `FileDataModule`."""

    input_kind = "tokens"
    num_classes = 2
    class_names = ["neg", "pos"]

    def __init__(self, vocab_size: int = 5000, max_len: int = 500, batch_size: int = 128, **settings):
        super().__init__(batch_size=batch_size, **settings)
        self.vocab_size = require_int_at_least("vocab_size", vocab_size, len(text.RESERVED) + 1)
        self.max_len = require_int_at_least("max_len", max_len, 1)
        self.input_shape = (max_len,)
        self.vocabulary: list[str] = []

    @property
    def network_sizes(self) -> dict:
        """Word ids go up to vocab_size - 1: the embedding needs that many rows."""
        return super().network_sizes | {"vocab_size": self.vocab_size}

    def load_splits(self) -> dict[str, tuple[Tensor, Tensor]]:
        directory = Path(self.data_dir) / "imdb"
        files = {split: (name,) for split, name in SPLIT_FILES.items()}
        paths = locate(files, [directory], download_imdb if self.download else None)
        name = f"tokens-vocab{self.vocab_size}-len{self.max_len}.pt"
        cache_path = directory / "processed" / name if self.cache else None
        data = cached(
            cache_path,
            list(paths.values()),
            lambda: self._read(paths),
            problem=lambda data: labelled_data_problem(
                {key: value for key, value in data.items() if key != "vocabulary"}, self.num_classes, self.vocab_size
            ),
        )
        self.vocabulary = data["vocabulary"]
        splits = carve_validation(data["train_ids"], data["train_labels"], self.val_fraction, self.seed)
        splits["test"] = (data["test_ids"], data["test_labels"])
        return splits

    def _read(self, paths: dict[str, Path]) -> dict:
        reviews = {split: read_reviews(path) for split, path in paths.items()}
        tokens = {split: [text.tokenize(review) for review in texts] for split, (texts, _) in reviews.items()}
        vocabulary = text.build_vocabulary(tokens["train"], self.vocab_size)
        data: dict = {"vocabulary": vocabulary}
        for split, (_, labels) in reviews.items():
            data[f"{split}_ids"] = torch.from_numpy(text.encode(tokens[split], vocabulary, self.max_len))
            data[f"{split}_labels"] = torch.from_numpy(labels)
        return data

    def encode(self, reviews: list[str]) -> Tensor:
        """New reviews as network input, with the vocabulary of the training run."""
        tokens = [text.tokenize(review) for review in reviews]
        return torch.from_numpy(text.encode(tokens, self.vocabulary, self.max_len))

    def state_dict(self) -> dict:
        """Saved in every checkpoint, so the checkpoint can classify new text with its own vocabulary."""
        return super().state_dict() | {"vocabulary": self.vocabulary}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.vocabulary = state_dict["vocabulary"]


def read_reviews(path: Path) -> tuple[list[str], np.ndarray]:
    """A Parquet file with columns `text` (string) and `label` (0 negative, 1 positive)."""
    import pyarrow.parquet

    try:
        table = pyarrow.parquet.read_table(path, columns=["text", "label"])
    except Exception as error:  # truncated file, not Parquet, or columns missing
        raise DataError(f"{path} is not a Parquet file of IMDB reviews with columns text, label: {error}") from None
    labels = table.column("label").to_numpy().astype(np.int64)
    if len(labels) == 0 or labels.min() < 0 or labels.max() > 1:
        raise DataError(f"{path} must hold reviews labelled 0 (negative) or 1 (positive); it has {len(labels)} rows")
    return table.column("text").to_pylist(), labels


def download_imdb(folder: Path) -> None:
    import datasets

    for split, name in SPLIT_FILES.items():
        datasets.load_dataset(HF_DATASET, split=split).to_parquet(folder / name)
