"""Base for image data sets: uint8 images in memory, a seeded validation split, and per-batch normalization
(and augmentation) on whichever device the batch is on."""

import torch
from torch import Tensor

from studykit.data.augment import random_crop_and_flip
from studykit.data.in_memory import FileDataModule, carve_validation
from studykit.data.tensor_batches import Batch
from studykit.errors import require_choice

# scale: pixels / 255 (the studies); standardize: then per channel to mean 0, std 1 with train statistics.
NORMALIZATIONS = ("scale", "standardize")


class ImageDataModule(FileDataModule):
    """Subclasses implement `load_official()`: `(train_images, train_labels, test_images, test_labels)` with
    images as uint8 `(N, C, H, W)` and labels as int64. `settings`: those of `FileDataModule`."""

    input_kind = "images"

    def __init__(self, normalize: str = "scale", augment: bool = False, val_fraction: float = 0.1, **settings):
        super().__init__(val_fraction=val_fraction, **settings)
        self.normalize = require_choice("normalize", normalize, NORMALIZATIONS)
        self.augment = augment
        self.augmentation: torch.Generator | None = None  # random crops and flips, on the data's device

    def load_official(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        raise NotImplementedError

    def load_splits(self) -> dict[str, tuple[Tensor, Tensor]]:
        train_images, train_labels, test_images, test_labels = self.load_official()
        splits = carve_validation(train_images, train_labels, self.val_fraction, self.seed)
        splits["test"] = (test_images, test_labels)
        if self.normalize == "standardize":
            self.channel_mean, self.channel_std = channel_statistics(splits["train"][0])
        return splits

    @property
    def draws_while_training(self) -> bool:
        return self.augment

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        device = self.splits["train"][1].device
        if self.normalize == "standardize":
            self.channel_mean, self.channel_std = self.channel_mean.to(device), self.channel_std.to(device)
        if self.augment and (self.augmentation is None or self.augmentation.device != device):
            self.augmentation = torch.Generator(device=device).manual_seed(self.seed)

    def transform(self, batch: Batch, training: bool) -> Batch:
        images, labels = batch
        shape = (1, -1, 1, 1)
        if self.normalize == "standardize":
            images = scaled(images, self.channel_mean.view(shape), self.channel_std.view(shape))
        else:
            images = scaled(images)
        if training and self.augment:
            images = random_crop_and_flip(images, padding=4, generator=self.augmentation)
        return images, labels

    @classmethod
    def transform_stacked(cls, modules: list["ImageDataModule"], batch: Batch, training: bool) -> Batch:
        """All members at once where none draws at random: each slice scaled with its own member's statistics."""
        if training and modules[0].augment:
            return super().transform_stacked(modules, batch, training)
        images, labels = batch
        if modules[0].normalize == "standardize":
            shape = (len(modules), 1, -1, 1, 1)
            mean, std = (torch.stack([getattr(m, name) for m in modules]) for name in ("channel_mean", "channel_std"))
            return scaled(images, mean.view(shape), std.view(shape)), labels
        return scaled(images), labels


def scaled(images: Tensor, mean: Tensor | None = None, std: Tensor | None = None) -> Tensor:
    """uint8 pixels to [0, 1], then standardized where `mean` and `std` (shaped to the channel dimension) are given."""
    images = images.float() / 255
    return images if mean is None else (images - mean) / std

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.augmentation is not None:
            state["augmentation"] = self.augmentation.get_state()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        if "augmentation" in state_dict and self.augmentation is not None:
            self.augmentation.set_state(state_dict["augmentation"])


def channel_statistics(images: Tensor, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of uint8 `images / 255`, accumulated in chunks to stay small in memory."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for part in images.split(chunk):
        values = part.double() / 255
        total += values.sum(dim=(0, 2, 3))
        squares += values.square().sum(dim=(0, 2, 3))
    count = images.numel() / images.shape[1]
    mean = total / count
    return mean.float(), (squares / count - mean.square()).sqrt().float()
