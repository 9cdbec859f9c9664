"""Whether a group trains faster stacked than its members one by one.

An MLP stacks through batched matrix products (with its gradients written out for ReLU, tanh and sigmoid
layers), which saves most of what a small MLP's step costs besides its arithmetic (README "Speed": 20 digits
seeds, 8 MNIST seeds), so its groups always stack. Other networks stack through vmap, which runs the members'
convolutions as one grouped convolution and can cost more than their own steps: on this project's 2-core CPU
machine a stacked step of two MNIST ConvNets (net_1) took 1.15-1.24x their own steps' time, and of two of
study C's TextCNNs 1.18-1.24x (README "Speed"). So such a group first times a few of its training steps both
ways, on copies of its members, each on the threads it would train with: at least eight steps each way.
"""

import copy
import time
from collections.abc import Callable

import torch
from omegaconf import DictConfig

from studykit.classifier import loss
from studykit.run.threads import choose_threads, forward_flops, set_threads
from studykit.stacking.fit import Member, Stack, batched_forward, transformed

ROUND_SECONDS = 0.1  # at least, each way, twice, alternating


def stacked_step_ratio(members: list[Member], launcher: DictConfig) -> float | None:
    """A stacked training step's time per member over one member's step alone, to two decimals (below 1:
    stacking pays); None for an MLP, which is not measured."""
    for member in members:
        member.build()
    first = members[0]
    if batched_forward(first.network) is not None:
        return None
    size = first.datamodule.batch_size
    batch = tuple(torch.stack([m.datamodule.splits["train"][part][:size] for m in members]) for part in (0, 1))
    example, _ = first.datamodule.transform((batch[0][0][:1], batch[1][0][:1]), training=False)
    flops = forward_flops(first.network, example) * size
    stack = Stack(members)  # its own copies of the weights, and its own optimizers

    def stacked() -> None:
        stack.train_step(*transformed(members, batch, False))

    alone = _step_alone(first, (batch[0][0], batch[1][0]))
    threads = [first.cfg.threads or choose_threads(count * flops, launcher) for count in (1, len(members))]
    seconds = {alone: [], stacked: []}
    for _ in range(2):
        for step, thread_count in zip((alone, stacked), threads, strict=True):
            set_threads(thread_count)
            seconds[step].append(_seconds_per_call(step))
    return round(min(seconds[stacked]) / len(members) / min(seconds[alone]), 2)


def _step_alone(member: Member, batch: tuple) -> Callable[[], None]:
    """One training step of a copy of `member` as its single run takes it (autograd's: not an MLP)."""
    network = copy.deepcopy(member.network)
    optimizer = member.classifier.optimizer_factory(network.parameters())

    def step() -> None:
        inputs, targets = member.datamodule.transform(batch, training=False)
        optimizer.zero_grad()
        loss(network(inputs), targets).backward()
        optimizer.step()

    return step


def _seconds_per_call(step: Callable[[], None]) -> float:
    step()  # its first call may set things up
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < ROUND_SECONDS:
        step()
        calls += 1
    return (time.perf_counter() - started) / calls
