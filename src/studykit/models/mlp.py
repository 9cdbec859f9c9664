"""Multi-layer perceptron: flatten -> depth x (Linear(hidden) -> act [-> dropout]) -> Linear(num_classes).

`output_act=sigmoid` reproduces Keras' Dense(classes, sigmoid) trained with categorical cross-entropy: Keras
divides the sigmoid outputs by their sum before the log, so the loss is -log(sigmoid(z_y) / sum_j sigmoid(z_j)),
which is softmax cross-entropy over log(sigmoid(z)); the network therefore ends in LogSigmoid.
"""

import math

from torch import Tensor, nn

from studykit.errors import require_choice, require_int_at_least, require_rate
from studykit.models.activations import make_activation
from studykit.models.initialization import initialize

OUTPUT_ACTIVATIONS = ("none", "sigmoid")


class MLP(nn.Module):
    input_kinds = ("features", "images")

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: int = 40,
        depth: int = 1,
        act: str = "relu",
        dropout: float = 0.0,
        output_act: str = "none",
        init: str = "torch",
    ):
        super().__init__()
        require_int_at_least("hidden", hidden, 1)
        require_int_at_least("depth", depth, 1)
        require_choice("output_act", output_act, OUTPUT_ACTIVATIONS)
        require_rate("dropout", dropout)
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), make_activation(act)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        if output_act == "sigmoid":
            layers.append(nn.LogSigmoid())
        self.layers = nn.Sequential(*layers)
        initialize(self, init)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
