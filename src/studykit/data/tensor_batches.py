"""An iterable of batches cut from tensors in memory: one index operation per batch, no workers."""

import math

import torch
from torch import Tensor


def _rank_and_world_size() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class TensorBatches:
    """Yields `(inputs, targets)` batches; reshuffled every pass when `shuffle`, from a seeded generator.

    Under DDP each rank takes every world-size-th sample of the same permutation, and all ranks get the
    same number of batches, so every sample is seen exactly once per epoch and none is padded or dropped.
    """

    def __init__(self, inputs: Tensor, targets: Tensor, batch_size: int, shuffle: bool, seed: int = 0):
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.shuffle = batch_size, shuffle
        self._generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        _, world_size = _rank_and_world_size()
        return math.ceil(math.ceil(len(self.targets) / world_size) / self.batch_size)

    def __iter__(self):
        count = len(self.targets)
        if self.shuffle:
            order = torch.randperm(count, generator=self._generator)
        else:
            order = torch.arange(count)
        order = order.to(self.targets.device)
        rank, world_size = _rank_and_world_size()
        if world_size == 1:
            chunks = order.split(self.batch_size)
        else:
            chunks = order[rank::world_size].tensor_split(len(self))
        for index in chunks:
            yield self.inputs[index], self.targets[index]
