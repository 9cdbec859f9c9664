"""The MLP's written-out gradients (studykit.steps.mlp_gradients) against autograd's, stacked (over the same
batched forward) and for one network, for each activation it takes, with several classes and a single logit."""

import pytest
import torch

from studykit.classifier import loss as classifier_loss
from studykit.models.mlp import MLP
from studykit.stacking.fit import _member_losses, batched_forward
from studykit.steps.mlp_gradients import gradient_step

MEMBERS, BATCH = 3, 29  # a batch size that is not a power of two: 1 / batch is rounded


def stacked(network_kwargs: dict, seed: int = 0):
    networks = []
    for member in range(MEMBERS):
        torch.manual_seed(seed + member)
        networks.append(MLP(**network_kwargs))
    names = [name for name, _ in networks[0].named_parameters()]
    weights = {name: torch.stack([dict(n.named_parameters())[name].detach() for n in networks]) for name in names}
    return networks[0], weights


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("classes", [10, 1])
def test_gradients_equal_autograds(act, classes):
    network, weights = stacked({"input_shape": (8, 8), "num_classes": classes, "hidden": 16, "depth": 2, "act": act})
    inputs = torch.randn(MEMBERS, BATCH, 8, 8)
    targets = torch.randint(0, max(classes, 2), (MEMBERS, BATCH))
    logits, losses, gradients = gradient_step(network)(weights, inputs, targets)

    leaves = {name: value.clone().requires_grad_() for name, value in weights.items()}
    expected_logits = batched_forward(network)(leaves, inputs)
    expected_losses = _member_losses(expected_logits, targets)
    expected_losses.sum().backward()
    assert torch.equal(logits, expected_logits.detach())
    assert torch.allclose(losses, expected_losses.detach(), rtol=1e-6, atol=0)
    assert set(gradients) == set(leaves)
    for name, leaf in leaves.items():
        assert gradients[name].shape == leaf.shape
        assert torch.allclose(gradients[name], leaf.grad, rtol=1e-5, atol=1e-7), name


def test_other_layers_use_autograd():
    assert gradient_step(MLP(input_shape=(4,), num_classes=3, act="gelu")) is None
    assert gradient_step(MLP(input_shape=(4,), num_classes=3, dropout=0.5)) is None
    assert gradient_step(MLP(input_shape=(4,), num_classes=3, output_act="sigmoid")) is None
    assert gradient_step(torch.nn.Linear(4, 3)) is None


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("classes", [10, 1])
def test_one_networks_gradients_equal_autograds(act, classes):
    """Unstacked, as a single run's step takes them (studykit.steps.written_step)."""
    torch.manual_seed(0)
    network = MLP(input_shape=(8, 8), num_classes=classes, hidden=16, depth=2, act=act)
    inputs, targets = torch.randn(BATCH, 8, 8), torch.randint(0, max(classes, 2), (BATCH,))
    weights = {name: parameter.detach() for name, parameter in network.named_parameters()}
    logits, loss, gradients = gradient_step(network)(weights, inputs, targets)

    expected_logits = network(inputs)
    expected_loss = classifier_loss(expected_logits, targets)
    expected_loss.backward()
    assert torch.equal(logits, expected_logits.detach())
    assert loss.shape == () and torch.allclose(loss, expected_loss.detach(), rtol=1e-6, atol=0)
    for name, parameter in network.named_parameters():
        assert torch.allclose(gradients[name], parameter.grad, rtol=1e-5, atol=1e-7), name
