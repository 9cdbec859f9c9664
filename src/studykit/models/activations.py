"""Activation functions by the names the configs use (`model.act=tanh`)."""

from torch import nn

from studykit.errors import require_choice

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "softplus": nn.Softplus,
}


def make_activation(name: str, key: str = "act") -> nn.Module:
    return ACTIVATIONS[require_choice(key, name, ACTIVATIONS)]()
