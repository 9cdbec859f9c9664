"""An iterable of batches cut from tensors in memory: one index operation per pass, no workers."""

import math
from collections.abc import Callable

import torch
from torch import Tensor

from studykit.run.ranks import rank_in_process_group

Batch = tuple[Tensor, Tensor]


class TensorBatches:
    """Yields `(inputs, targets)` batches, each passed through `transform` (scaling, augmentation).

    `order`: a generator that reshuffles the samples at the start of every pass (its state is the batch order of
    the epochs still to come, which checkpoints keep); None keeps the samples in order.
    Under DDP each rank takes every world-size-th sample of the same permutation, and all ranks get the
    same number of batches, so every sample is seen exactly once per epoch and none is padded or dropped.
    `counts_only`: each pass yields one item, its number of batches, and cuts none (the order generator moves
    on alike): a stacked member's run replays what its group computed (studykit.stacking.replay).
    """

    def __init__(
        self,
        inputs: Tensor,
        targets: Tensor,
        batch_size: int,
        order: torch.Generator | None = None,
        transform: Callable[[Batch], Batch] | None = None,
        counts_only: bool = False,
    ):
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.order, self.transform = batch_size, order, transform
        self.counts_only = counts_only

    def __len__(self) -> int:
        _, world_size = rank_in_process_group()
        return math.ceil(math.ceil(len(self.targets) / world_size) / self.batch_size)

    def __iter__(self):
        count = len(self.targets)
        if self.order is not None:
            indices = torch.randperm(count, generator=self.order)
        else:
            indices = torch.arange(count)
        indices = indices.to(self.targets.device)
        rank, world_size = rank_in_process_group()
        if world_size > 1:
            indices = indices[rank::world_size]
        if self.counts_only:
            yield len(self)
            return
        # One gather a pass (none in order), so that each batch is a slice: an index operation per batch costs as
        # much as a small network's whole step.
        if self.order is None and world_size == 1:
            inputs, targets = self.inputs, self.targets
        else:
            inputs, targets = self.inputs[indices], self.targets[indices]
        if world_size == 1:
            batches = zip(inputs.split(self.batch_size), targets.split(self.batch_size), strict=True)
        else:
            batches = zip(inputs.tensor_split(len(self)), targets.tensor_split(len(self)), strict=True)
        for batch in batches:
            yield self.transform(batch) if self.transform else batch
