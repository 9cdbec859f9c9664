"""A network run outside training: in eval mode (no dropout draws from the training run's random stream) and
without gradients, then put back in the mode it was in."""

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def eval_mode(network: nn.Module) -> Iterator[nn.Module]:
    training = network.training
    network.eval()
    try:
        with torch.no_grad():
            yield network
    finally:
        network.train(training)
