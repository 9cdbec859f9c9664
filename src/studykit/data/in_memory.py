"""Base data module for data sets held in memory as tensors: train/val/test splits and their batches."""

import math
from functools import partial

import numpy as np
import torch
from lightning import LightningDataModule
from torch import Tensor

from studykit.data.tensor_batches import Batch, TensorBatches
from studykit.errors import ConfigError, require_choice, require_fraction, require_int_at_least
from studykit.outputs.metrics import SPLITS
from studykit.stacking.replay import in_replay

DEVICES = ("cpu", "cuda", "auto")


class InMemoryDataModule(LightningDataModule):
    """Subclasses set `input_kind` (features, images or tokens: which networks can read it), `input_shape`,
    `num_classes`, `class_names` and implement `load_splits`.

    `device`: where the tensors live; `cuda` (or `auto` when the trainer runs on a GPU) keeps the whole data
    set on the GPU, so batches are cut there and nothing is copied per step.
    `test_dataloader` serves all three splits in the order of `SPLITS`, so testing the best checkpoint
    yields its loss, accuracy and confusion matrix on train, val and test alike.
    Every batch passes through `transform` (images: scaling, augmentation of training batches). The generator
    that orders the training batches is part of the module's state, so a checkpoint carries the batch order
    of the epochs still to come.
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
        self.order = torch.Generator().manual_seed(seed)

    @property
    def draws_while_training(self) -> bool:
        """Whether the training transform draws random numbers (augmentation) from a generator of the module's
        state: a stacked member's run then passes its training batches through it, so the generator moves on
        as in the member's group (and is where a single run's would be in its checkpoints)."""
        return False

    @property
    def network_sizes(self) -> dict:
        """What a network takes from the data to size itself."""
        return {"input_shape": self.input_shape, "num_classes": self.num_classes}

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

    def transform(self, batch: Batch, training: bool) -> Batch:
        """What every batch goes through on its device before the network sees it."""
        return batch

    @classmethod
    def transform_stacked(cls, modules: list["InMemoryDataModule"], batch: Batch, training: bool) -> Batch:
        """A stacked group's batches `(members, batch, ...)` (studykit.stacking), each member's through its own
        module's `transform`: its own statistics, its own random draws."""
        if cls.transform is InMemoryDataModule.transform:
            return batch
        pairs = [module.transform((x, y), training) for module, x, y in zip(modules, *batch, strict=True)]
        return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])

    def train_dataloader(self) -> TensorBatches:
        training = partial(self.transform, training=True)
        counts_only = in_replay() and not self.draws_while_training
        return TensorBatches(
            *self.splits["train"], self.batch_size, order=self.order, transform=training, counts_only=counts_only
        )

    def val_dataloader(self) -> TensorBatches:
        return self._evaluation_batches("val")

    def test_dataloader(self) -> list[TensorBatches]:
        return [self._evaluation_batches(split) for split in SPLITS]

    def _evaluation_batches(self, split: str) -> TensorBatches:
        evaluation = partial(self.transform, training=False)
        return TensorBatches(*self.splits[split], self.eval_batch_size, transform=evaluation, counts_only=in_replay())

    def state_dict(self) -> dict:
        return {"order": self.order.get_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.order.set_state(state_dict["order"])


class FileDataModule(InMemoryDataModule):
    """Base for data sets read from their official files under `data_dir`, whose training split gives up
    `val_fraction` for validation: `cache` keeps the processed tensors beside the files, `download` fetches
    missing files (subclasses know which files and from where)."""

    def __init__(
        self,
        data_dir: str = "data",
        val_fraction: float = 0.2,
        cache: bool = True,
        download: bool = True,
        batch_size: int = 32,
        eval_batch_size: int = 1024,
        seed: int = 0,
        device: str = "auto",
    ):
        super().__init__(batch_size, eval_batch_size, seed, device)
        self.data_dir = data_dir
        self.val_fraction = require_fraction("val_fraction", val_fraction)
        self.cache = cache
        self.download = download


def require_stratifiable(key: str, value: float, fraction: float, samples: int, classes: int) -> None:
    """A stratified split of `fraction` of `samples` (the setting `key`=`value` asks for it) needs at least one
    sample per class on each side, counted as scikit-learn counts: the held-out side rounded up."""
    held_out = math.ceil(fraction * samples)
    if held_out < classes or samples - held_out < classes:
        raise ConfigError(
            key,
            value,
            f"must leave at least {classes} samples (one per class) on each side of the split of {samples} "
            f"samples; {held_out} would be held out",
        )


def stratified_split(x, y, fraction: float, key: str, value: float, classes: int, seed: int) -> list:
    """scikit-learn's `train_test_split` holding out `fraction`, stratified by class (`key`=`value` asks for it)."""
    require_stratifiable(key, value, fraction, len(y), classes)
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=fraction, stratify=y, random_state=seed)


def three_way_split(x, y, val_fraction: float, test_fraction: float, classes: int, seed: int) -> dict[str, tuple]:
    """`{"train": (x, y), "val": ..., "test": ...}`: seeded, stratified, holding out the two fractions of all."""
    rest_x, test_x, rest_y, test_y = stratified_split(
        x, y, test_fraction, "data.test_fraction", test_fraction, classes, seed
    )
    val_share = val_fraction / (1 - test_fraction)
    train_x, val_x, train_y, val_y = stratified_split(
        rest_x, rest_y, val_share, "data.val_fraction", val_fraction, classes, seed
    )
    return {"train": (train_x, train_y), "val": (val_x, val_y), "test": (test_x, test_y)}


def require_split_fractions(val_fraction, test_fraction) -> tuple[float, float]:
    val, test = require_fraction("val_fraction", val_fraction), require_fraction("test_fraction", test_fraction)
    if val + test >= 1:
        raise ConfigError("val_fraction", val_fraction, f"val_fraction + test_fraction must be < 1 ({test_fraction=})")
    return val, test


def carve_validation(inputs: Tensor, targets: Tensor, fraction: float, seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    """`{"train": ..., "val": ...}`: a seeded split of `fraction` of the samples, stratified by class."""
    classes = int(targets.max()) + 1
    train_index, val_index, _, _ = stratified_split(
        np.arange(len(targets)), targets.numpy(), fraction, "data.val_fraction", fraction, classes, seed
    )
    train_index, val_index = torch.from_numpy(np.sort(train_index)), torch.from_numpy(np.sort(val_index))
    return {"train": (inputs[train_index], targets[train_index]), "val": (inputs[val_index], targets[val_index])}
