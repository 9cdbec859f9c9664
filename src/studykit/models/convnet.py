"""Convolutional network: len(channels) x (Conv 3x3 'same' -> act), one pooling step, dense hidden layer, output.

The defaults are the studies' net_1 (Conv 32, Conv 64, MaxPool 2x2, Dense 128); `pooling=stride` is net_2 (no
pooling layer, the last convolution has stride 2 instead). PyTorch pads a stride-2 convolution by one pixel on
each side where Keras' 'same' pads only the bottom and right: same output size and parameters, shifted by a pixel.
"""

import torch
from torch import Tensor, nn

from studykit.errors import ConfigError, require_choice, require_int_at_least, require_rate
from studykit.models.activations import make_activation
from studykit.models.initialization import initialize
from studykit.models.network import Network

POOLINGS = ("max", "avg", "none", "stride")


class ConvNet(Network):
    input_kinds = ("images",)

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        channels: list[int] = (32, 64),
        act: str = "relu",
        pooling: str = "max",
        pool_size: int = 2,
        pool_stride: int | None = None,
        hidden: int = 128,
        dropout: float = 0.0,
        init: str = "keras",
    ):
        super().__init__()
        require_choice("pooling", pooling, POOLINGS)
        if not channels:
            raise ConfigError("channels", list(channels), "must list at least one convolution's channel count")
        for width in channels:
            require_int_at_least("channels", width, 1)
        require_int_at_least("hidden", hidden, 1)
        require_int_at_least("pool_size", pool_size, 1)
        if pool_stride is not None:
            require_int_at_least("pool_stride", pool_stride, 1)
        require_rate("dropout", dropout)
        layers: list[nn.Module] = []
        in_channels = input_shape[0]
        for index, out_channels in enumerate(channels):
            last = index == len(channels) - 1
            if last and pooling == "stride":
                layers.append(nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1))
            else:
                layers.append(nn.Conv2d(in_channels, out_channels, 3, padding="same"))
            layers.append(make_activation(act))
            in_channels = out_channels
        if pooling in ("max", "avg"):
            pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
            layers.append(pool(pool_size, stride=pool_stride))
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.features = nn.Sequential(*layers)
        feature_shape = self._feature_shape(input_shape, pooling, pool_size)
        dense: list[nn.Module] = [nn.Flatten(), nn.Linear(feature_shape.numel(), hidden), make_activation(act)]
        if dropout:
            dense.append(nn.Dropout(dropout))
        dense.append(nn.Linear(hidden, num_classes))
        self.head = nn.Sequential(*dense)
        initialize(self, init)

    def _feature_shape(self, input_shape: tuple[int, ...], pooling: str, pool_size: int) -> torch.Size:
        """The shape after the convolutions and pooling, found by a forward pass of one blank image."""
        try:
            with torch.no_grad():
                shape = self.features(torch.zeros(1, *input_shape)).shape[1:]
        except RuntimeError:  # torch refuses a pooling window larger than its input
            shape = None
        if shape is None or shape.numel() == 0:
            size = "x".join(map(str, input_shape[1:]))
            raise ConfigError(
                "pool_size",
                pool_size,
                f"pooling={pooling} shrinks the {size} images to nothing; use a smaller pool_size",
            ) from None
        return shape

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))
