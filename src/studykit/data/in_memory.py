"""Base data module for data sets held in memory as tensors: train/val/test splits and their batches."""

import numpy as np
import torch
from lightning import LightningDataModule
from sklearn.model_selection import train_test_split
from torch import Tensor

from studykit.data.tensor_batches import TensorBatches
from studykit.errors import ConfigError, require_choice, require_int_at_least

SPLITS = ("train", "val", "test")
DEVICES = ("cpu", "cuda", "auto")


class InMemoryDataModule(LightningDataModule):
    """Subclasses set `input_kind` (features, images or tokens: which networks can read it), `input_shape`,
    `num_classes`, `class_names` and implement `load_splits`.

    `device`: where the tensors live; `cuda` (or `auto` when the trainer runs on a GPU) keeps the whole data
    set on the GPU, so batches are cut there and nothing is copied per step.
    `test_dataloader` serves all three splits in the order of `SPLITS`, so testing the best checkpoint
    yields its loss, accuracy and confusion matrix on train, val and test alike.
    """

    input_kind: str
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: list[str]

    def __init__(self, batch_size: int = 32, eval_batch_size: int = 1024, seed: int = 0, device: str = "auto"):
        super().__init__()
        self.batch_size = require_int_at_least("batch_size", batch_size, 1)
        self.eval_batch_size = require_int_at_least("eval_batch_size", eval_batch_size, 1)
        self.seed = seed
        self.device = require_choice("device", device, DEVICES)
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device", device, "no CUDA device is visible here; use cpu or auto")
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}

    def load_splits(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Return `{split: (inputs, targets)}` for every name in `SPLITS`."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.load_splits()
        device = self._target_device()
        if self.splits["train"][1].device != device:
            self.splits = {split: (x.to(device), y.to(device)) for split, (x, y) in self.splits.items()}

    def _target_device(self) -> torch.device:
        if self.device == "auto":
            return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        return torch.device(self.device)

    def split_sizes(self) -> dict[str, int]:
        self.setup()
        return {split: len(targets) for split, (_, targets) in self.splits.items()}

    def train_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.splits["train"], self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.splits["val"], self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> list[TensorBatches]:
        return [TensorBatches(*self.splits[split], self.eval_batch_size, shuffle=False) for split in SPLITS]


def carve_validation(inputs: Tensor, targets: Tensor, fraction: float, seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    """`{"train": ..., "val": ...}`: a seeded split of `fraction` of the samples, stratified by class."""
    classes = int(targets.max()) + 1
    if round(fraction * len(targets)) < classes or round((1 - fraction) * len(targets)) < classes:
        raise ConfigError(
            "data.val_fraction",
            fraction,
            f"must leave at least {classes} samples (one per class) on each side "
            f"of the validation split of {len(targets)} samples",
        )
    train_index, val_index = train_test_split(
        np.arange(len(targets)), test_size=fraction, stratify=targets.numpy(), random_state=seed
    )
    train_index, val_index = torch.from_numpy(np.sort(train_index)), torch.from_numpy(np.sort(val_index))
    return {"train": (inputs[train_index], targets[train_index]), "val": (inputs[val_index], targets[val_index])}
