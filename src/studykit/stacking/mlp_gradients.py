"""A stacked MLP's gradients written out: the chain rule over its batched matrix products and ReLU, tanh or
sigmoid activations, the operations autograd's backward runs for it, without recording and walking a graph each
step (for the small networks of a group, autograd's bookkeeping costs more than the arithmetic: 243 against
149 microseconds a step for three 64-40-40-10 members). Networks with other layers use autograd."""

from collections.abc import Callable

import torch
from torch import Tensor, nn

# grad of a layer's output, its output -> grad of its input, as autograd's backward kernels compute it
DERIVATIVES: dict[type, Callable[[Tensor, Tensor], Tensor]] = {
    nn.ReLU: lambda grad, out: grad.masked_fill(out <= 0, 0),
    nn.Tanh: lambda grad, out: grad * (1 - out * out),
    nn.Sigmoid: lambda grad, out: grad * (1 - out) * out,
}

GradientStep = Callable[[dict[str, Tensor], Tensor, Tensor], tuple[Tensor, Tensor, dict[str, Tensor]]]


def gradient_step(network: nn.Module) -> GradientStep | None:
    """For an MLP of Linear layers and the activations above: a function `(weights, inputs, targets) ->
    (logits, losses, gradients)` over stacked weights `(members, ...)` and batches `(members, batch, ...)`,
    giving each member's mean cross-entropy and the gradients of their sum; None for any other network."""
    from studykit.models.mlp import MLP

    if not isinstance(network, MLP):
        return None
    steps: list[str | nn.Module] = []
    for index, layer in enumerate(network.layers):
        if isinstance(layer, nn.Linear):
            steps.append(f"layers.{index}")
        elif isinstance(layer, nn.Flatten) or type(layer) in DERIVATIVES:
            steps.append(layer)
        else:
            return None

    first = next(position for position, part in enumerate(steps) if isinstance(part, str))

    def step(weights: dict[str, Tensor], inputs: Tensor, targets: Tensor):
        with torch.no_grad():
            hidden, kept = inputs, []  # each Linear's input, each activation's output
            for part in steps:
                if isinstance(part, str):
                    kept.append(hidden)
                    bias, weight = weights[f"{part}.bias"].unsqueeze(1), weights[f"{part}.weight"]
                    hidden = torch.baddbmm(bias, hidden, weight.transpose(1, 2))
                elif isinstance(part, nn.Flatten):
                    hidden = hidden.flatten(2)
                else:
                    hidden = part(hidden)
                    kept.append(hidden)
            losses, grad = _losses_and_gradient(hidden, targets)
            gradients = {}
            for position in range(len(steps) - 1, first - 1, -1):  # back to the first Linear (its input: data)
                part = steps[position]
                if isinstance(part, str):
                    layer_input, weight = kept.pop(), weights[f"{part}.weight"]
                    weight_grad = torch.bmm(layer_input.transpose(1, 2), grad).transpose(1, 2)
                    gradients[f"{part}.weight"] = weight_grad.contiguous()
                    gradients[f"{part}.bias"] = grad.sum(1)
                    if position > first:
                        grad = torch.bmm(grad, weight)
                else:
                    grad = DERIVATIVES[type(part)](grad, kept.pop())
        return hidden, losses, gradients

    return step


def _losses_and_gradient(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Each member's mean loss over its batch (`studykit.classifier.loss`: softmax cross-entropy, or binary
    cross-entropy on a single logit) and the gradient of their sum with respect to the logits."""
    share = torch.ones((), dtype=logits.dtype, device=logits.device) / targets.shape[1]
    if logits.shape[-1] == 1:
        logit, truth = logits.squeeze(-1), targets.to(logits.dtype)
        losses = nn.functional.binary_cross_entropy_with_logits(logit, truth, reduction="none").mean(1)
        return losses, ((torch.sigmoid(logit) - truth) * share).unsqueeze(-1)
    log_probabilities = torch.log_softmax(logits, dim=-1)
    losses = -log_probabilities.gather(-1, targets.unsqueeze(-1)).squeeze(-1).mean(1)
    grad = log_probabilities.exp() * share
    grad.scatter_add_(-1, targets.unsqueeze(-1), (-share).expand(targets.shape).unsqueeze(-1))
    return losses, grad
