"""Multi-layer perceptron: flatten -> depth x (Linear(hidden) -> act [-> dropout]) -> Linear(num_classes), or
with `hidden` a list, one hidden layer per entry, of that width (`hidden=[4, 8]`: 2 -> 4 -> 8 -> classes).

`output_act=sigmoid` reproduces Keras' Dense(classes, sigmoid) trained with categorical cross-entropy: Keras
divides the sigmoid outputs by their sum before the log, so the loss is -log(sigmoid(z_y) / sum_j sigmoid(z_j)),
which is softmax cross-entropy over log(sigmoid(z)); the network therefore ends in LogSigmoid.
"""

import math
from collections.abc import Sequence

from torch import Tensor, nn

from studykit.errors import ConfigError, require_choice, require_int_at_least, require_rate
from studykit.models.activations import make_activation
from studykit.models.initialization import initialize
from studykit.models.network import Network

OUTPUT_ACTIVATIONS = ("none", "sigmoid")


class MLP(Network):
    input_kinds = ("features", "images")

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: int | Sequence[int] = 40,
        depth: int = 1,
        act: str = "relu",
        dropout: float = 0.0,
        output_act: str = "none",
        init: str = "torch",
    ):
        super().__init__()
        widths = hidden_widths(hidden, depth)
        require_choice("output_act", output_act, OUTPUT_ACTIVATIONS)
        require_rate("dropout", dropout)
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for hidden_width in widths:
            layers += [nn.Linear(width, hidden_width), make_activation(act)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden_width
        layers.append(nn.Linear(width, num_classes))
        if output_act == "sigmoid":
            layers.append(nn.LogSigmoid())
        self.layers = nn.Sequential(*layers)
        initialize(self, init)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def hidden_widths(hidden: int | Sequence[int], depth: int) -> list[int]:
    require_int_at_least("depth", depth, 1)
    if isinstance(hidden, Sequence) and not isinstance(hidden, str):
        widths = [require_int_at_least("hidden", width, 1) for width in hidden]
        if not widths:
            raise ConfigError("hidden", [], "must be an integer >= 1 or a non-empty list of them")
        if depth not in (1, len(widths)):
            raise ConfigError("depth", depth, f"hidden={widths} gives {len(widths)} layers: leave depth at 1")
        return widths
    return [require_int_at_least("hidden", hidden, 1)] * depth
