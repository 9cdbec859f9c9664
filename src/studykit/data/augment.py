"""Augmentation of whole image batches at once: a random crop from a zero-padded image and a random
horizontal flip per sample, with no per-sample Python."""

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop_and_flip(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """`images` `(N, C, H, W)`; each sample shifted by up to `padding` pixels and mirrored with probability 1/2."""
    count, _, height, width = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (count, 1, 1, 1), device=device, generator=generator)
    left = torch.randint(0, 2 * padding + 1, (count, 1, 1, 1), device=device, generator=generator)
    flip = torch.rand((count, 1, 1, 1), device=device, generator=generator) < 0.5
    columns = torch.arange(width, device=device).view(1, 1, 1, width)
    columns = torch.where(flip, width - 1 - columns, columns) + left
    rows = torch.arange(height, device=device).view(1, 1, height, 1) + top
    samples = torch.arange(count, device=device).view(count, 1, 1, 1)
    channels = torch.arange(images.shape[1], device=device).view(1, -1, 1, 1)
    return padded[samples, channels, rows, columns]
