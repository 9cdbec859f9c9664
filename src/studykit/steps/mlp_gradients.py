"""An MLP's gradients written out: the chain rule over its matrix products and ReLU, tanh or sigmoid activations,
the operations autograd's backward runs for it, without recording and walking a graph each step (for the small
networks this template is for, autograd's bookkeeping costs more than the arithmetic: 243 against 149
microseconds a step for three stacked 64-40-40-10 members). One network's weights, or a stacked group's
`(members, ...)` with batches `(members, batch, ...)`. Networks with other layers use autograd."""

from collections.abc import Callable

import torch
from torch import Tensor, nn

# Each activation layer: its function (called directly: a module's call costs more than a small layer's
# arithmetic), and grad of its output, its output -> grad of its input, the kernels autograd's backward runs.
ACTIVATIONS: dict[type, tuple[Callable[[Tensor], Tensor], Callable[[Tensor, Tensor], Tensor]]] = {
    nn.ReLU: (torch.relu, lambda grad, out: torch.ops.aten.threshold_backward.default(grad, out, 0)),
    nn.Tanh: (torch.tanh, torch.ops.aten.tanh_backward.default),
    nn.Sigmoid: (torch.sigmoid, torch.ops.aten.sigmoid_backward.default),
}

GradientStep = Callable[[dict[str, Tensor], Tensor, Tensor], tuple[Tensor, Tensor, dict[str, Tensor]]]


def gradient_step(network: nn.Module) -> GradientStep | None:
    """For an MLP of Linear layers and the activations above: a function `(weights, inputs, targets) ->
    (logits, losses, gradients)`. Over one network's weights (by parameter name): the batch's mean cross-entropy
    and its gradients. Over stacked weights `(members, ...)` and batches `(members, batch, ...)`: each member's
    mean cross-entropy and the gradients of their sum. None for any other network."""
    from studykit.models.mlp import MLP

    if not isinstance(network, MLP):
        return None
    steps: list[str | nn.Module | tuple] = []  # a Linear's name, Flatten, or an activation's two functions
    for index, layer in enumerate(network.layers):
        if isinstance(layer, nn.Linear):
            steps.append(f"layers.{index}")
        elif isinstance(layer, nn.Flatten):
            steps.append(layer)
        elif type(layer) in ACTIVATIONS:
            steps.append(ACTIVATIONS[type(layer)])
        else:
            return None

    first = next(position for position, part in enumerate(steps) if isinstance(part, str))

    def step(weights: dict[str, Tensor], inputs: Tensor, targets: Tensor):
        stacked = weights[f"{steps[first]}.weight"].dim() == 3
        with torch.no_grad():
            hidden, kept = inputs, []  # each Linear's input, each activation's output
            for part in steps:
                if isinstance(part, str):
                    kept.append(hidden)
                    hidden = _linear(hidden, weights[f"{part}.weight"], weights[f"{part}.bias"])
                elif isinstance(part, nn.Flatten):
                    hidden = hidden.flatten(2 if stacked else 1)
                else:
                    hidden = part[0](hidden)
                    kept.append(hidden)
            losses, grad = _losses_and_gradient(hidden, targets)
            gradients = {}
            for position in range(len(steps) - 1, first - 1, -1):  # back to the first Linear (its input: data)
                part = steps[position]
                if isinstance(part, str):
                    layer_input, weight = kept.pop(), weights[f"{part}.weight"]
                    gradients[f"{part}.weight"] = _matmul(grad.mT, layer_input)
                    gradients[f"{part}.bias"] = grad.sum(-2)
                    if position > first:
                        grad = _matmul(grad, weight)
                else:
                    grad = part[1](grad, kept.pop())
        return hidden, losses, gradients

    return step


def _linear(inputs: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """nn.Linear's forward (addmm, as torch's own), batched over the members of a stack."""
    if weight.dim() == 3:
        return torch.baddbmm(bias.unsqueeze(1), inputs, weight.mT)
    return torch.addmm(bias, inputs, weight.t())


def _matmul(left: Tensor, right: Tensor) -> Tensor:
    return torch.bmm(left, right) if left.dim() == 3 else torch.mm(left, right)


def _losses_and_gradient(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """The mean loss over the batch (each member's, stacked) as `studykit.classifier.loss` computes it (softmax
    cross-entropy, or binary cross-entropy on a single logit), and the gradient of their sum by the logits."""
    share = torch.ones((), dtype=logits.dtype, device=logits.device) / targets.shape[-1]
    if logits.shape[-1] == 1:
        logit, truth = logits.squeeze(-1), targets.to(logits.dtype)
        losses = nn.functional.binary_cross_entropy_with_logits(logit, truth, reduction="none").mean(-1)
        return losses, ((torch.sigmoid(logit) - truth) * share).unsqueeze(-1)
    log_probabilities = torch.log_softmax(logits, dim=-1)
    losses = -log_probabilities.gather(-1, targets.unsqueeze(-1)).squeeze(-1).mean(-1)
    grad = log_probabilities.exp() * share
    grad.scatter_add_(-1, targets.unsqueeze(-1), (-share).expand(targets.shape).unsqueeze(-1))
    return losses, grad
