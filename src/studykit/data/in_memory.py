"""Base data module for data sets held in memory as tensors: train/val/test splits and their batches."""

from lightning import LightningDataModule
from torch import Tensor

from studykit.data.tensor_batches import TensorBatches
from studykit.errors import require_int_at_least

SPLITS = ("train", "val", "test")


class InMemoryDataModule(LightningDataModule):
    """Subclasses set `input_shape`, `num_classes`, `class_names` and implement `load_splits`.

    `test_dataloader` serves all three splits in the order of `SPLITS`, so testing the best checkpoint
    yields its loss, accuracy and confusion matrix on train, val and test alike.
    """

    input_shape: tuple[int, ...]
    num_classes: int
    class_names: list[str]

    def __init__(self, batch_size: int = 32, eval_batch_size: int = 1024, seed: int = 0):
        super().__init__()
        self.batch_size = require_int_at_least("batch_size", batch_size, 1)
        self.eval_batch_size = require_int_at_least("eval_batch_size", eval_batch_size, 1)
        self.seed = seed
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}

    def load_splits(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Return `{split: (inputs, targets)}` for every name in `SPLITS`."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.load_splits()

    def split_sizes(self) -> dict[str, int]:
        self.setup()
        return {split: len(targets) for split, (_, targets) in self.splits.items()}

    def train_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.splits["train"], self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.splits["val"], self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> list[TensorBatches]:
        return [TensorBatches(*self.splits[split], self.eval_batch_size, shuffle=False) for split in SPLITS]
