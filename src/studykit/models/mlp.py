"""Multi-layer perceptron: flatten -> depth x (Linear(hidden) -> act [-> dropout]) -> Linear(num_classes)."""

import math

from torch import Tensor, nn

from studykit.errors import ConfigError, require_int_at_least
from studykit.models.activations import make_activation


class MLP(nn.Module):
    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: int = 40,
        depth: int = 1,
        act: str = "relu",
        dropout: float = 0.0,
    ):
        super().__init__()
        require_int_at_least("hidden", hidden, 1)
        require_int_at_least("depth", depth, 1)
        if not 0 <= dropout < 1:
            raise ConfigError("dropout", dropout, "must be a number in [0, 1)")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), make_activation(act)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
