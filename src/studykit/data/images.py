"""Base for image data sets: uint8 images in memory, a seeded validation split, and per-batch normalization
(and augmentation) on whichever device the batch is on."""

import torch
from torch import Tensor

from studykit.data.augment import random_crop_and_flip
from studykit.data.in_memory import InMemoryDataModule, carve_validation
from studykit.errors import require_choice, require_fraction

# scale: pixels / 255 (the studies); standardize: then per channel to mean 0, std 1 with train statistics.
NORMALIZATIONS = ("scale", "standardize")


class ImageDataModule(InMemoryDataModule):
    """Subclasses implement `load_official()`: `(train_images, train_labels, test_images, test_labels)` with
    images as uint8 `(N, C, H, W)` and labels as int64."""

    input_kind = "images"

    def __init__(
        self,
        data_dir: str = "data",
        val_fraction: float = 0.1,
        normalize: str = "scale",
        augment: bool = False,
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
        self.normalize = require_choice("normalize", normalize, NORMALIZATIONS)
        self.augment = augment
        self.cache = cache
        self.download = download
        self._generator: torch.Generator | None = None

    def load_official(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        raise NotImplementedError

    def load_splits(self) -> dict[str, tuple[Tensor, Tensor]]:
        train_images, train_labels, test_images, test_labels = self.load_official()
        splits = carve_validation(train_images, train_labels, self.val_fraction, self.seed)
        splits["test"] = (test_images, test_labels)
        if self.normalize == "standardize":
            self.channel_mean, self.channel_std = channel_statistics(splits["train"][0])
        return splits

    def on_after_batch_transfer(self, batch: tuple[Tensor, Tensor], dataloader_idx: int) -> tuple[Tensor, Tensor]:
        images, labels = batch
        images = images.float() / 255
        if self.normalize == "standardize":
            shape = (1, -1, 1, 1)
            mean, std = self.channel_mean.to(images.device), self.channel_std.to(images.device)
            images = (images - mean.view(shape)) / std.view(shape)
        if self.augment and self.trainer is not None and self.trainer.training:
            images = random_crop_and_flip(images, padding=4, generator=self._augment_generator(images.device))
        return images, labels

    def _augment_generator(self, device: torch.device) -> torch.Generator:
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
        return self._generator


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
