"""One run's training step without autograd where that pays: an MLP of ReLU, tanh or sigmoid layers has its
gradients written out (studykit.steps.mlp_gradients) and fused Adam's kernel applies them directly
(studykit.steps.updates). For the small networks this template is for, that is most of a step's cost: a
bundled-digits epoch of the 2 x 40 MLP takes about half the hand-written eager loop's time (README "Speed").

The results equal the autograd step's to float32 rounding: the same operations, some summed in another order
(tests/test_written_step.py measures the difference). `classifier.step=autograd` turns it off."""

from collections.abc import Callable
from operator import is_not

import torch
from torch import Tensor, nn

from studykit.steps.mlp_gradients import gradient_step
from studykit.steps.updates import direct_update, update

STEPS = ("auto", "autograd")

Step = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def written_step(network: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[Step | None, str]:
    """The step `(inputs, targets) -> (logits, loss)` that trains `network` with `optimizer` without autograd,
    and a line saying which path runs; None where only autograd's does."""
    gradients = gradient_step(network)
    if gradients is None:
        return None, "training step: autograd (gradients are written out for an MLP of ReLU, tanh or sigmoid layers)"
    weights = dict(network.named_parameters())
    names = [name for name, parameter in weights.items() if parameter.requires_grad]
    trained = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    if len(names) != len(weights) or len(trained) != len(weights) or any(map(is_not, trained, weights.values())):
        return None, "training step: autograd (the optimizer does not train exactly the network's parameters)"
    apply = update(optimizer)

    def step(inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        logits, loss, grads = gradients(weights, inputs, targets)
        apply([grads[name] for name in names])
        return logits, loss

    kernel = "fused Adam's kernel called directly" if direct_update(optimizer) else f"{type(optimizer).__name__}.step()"
    return step, f"training step: the MLP's gradients written out, {kernel}"
