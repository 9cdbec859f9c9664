"""Text network over word ids: Embedding -> [Conv1d 'same' -> act -> MaxPool1d] -> Flatten -> Dense -> output.

The defaults are the studies' TextCNN (Embedding 32, Conv1D 32 kernel 3, MaxPool 2, Dense 250); `conv=false`
is their embedding-MLP. For two classes the output is one logit (the studies' Dense(1, sigmoid)), trained with
binary cross-entropy by the classifier; `single_logit=false` gives two logits and softmax cross-entropy.
"""

from torch import Tensor, nn

from studykit.errors import ConfigError, require_int_at_least, require_rate
from studykit.models.activations import make_activation
from studykit.models.initialization import initialize
from studykit.models.network import Network


class TextCNN(Network):
    input_kinds = ("tokens",)

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        vocab_size: int,
        embed_dim: int = 32,
        conv: bool = True,
        filters: int = 32,
        kernel_size: int = 3,
        pool_size: int = 2,
        hidden: int = 250,
        act: str = "relu",
        dropout: float = 0.0,
        single_logit: bool = True,
        init: str = "keras",
    ):
        super().__init__()
        for key, value in (("embed_dim", embed_dim), ("filters", filters), ("kernel_size", kernel_size)):
            require_int_at_least(key, value, 1)
        require_int_at_least("pool_size", pool_size, 1)
        require_int_at_least("hidden", hidden, 1)
        require_rate("dropout", dropout)
        (length,) = input_shape
        if conv and length // pool_size == 0:
            raise ConfigError("pool_size", pool_size, f"must be at most the text length data.max_len={length}")
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.convolve = conv
        if conv:
            self.features = nn.Sequential(
                nn.Conv1d(embed_dim, filters, kernel_size, padding="same"),
                make_activation(act),
                nn.MaxPool1d(pool_size),
            )
            features = filters * (length // pool_size)
        else:
            features = embed_dim * length
        outputs = 1 if single_logit and num_classes == 2 else num_classes
        dense: list[nn.Module] = [nn.Flatten(), nn.Linear(features, hidden), make_activation(act)]
        if dropout:
            dense.append(nn.Dropout(dropout))
        dense.append(nn.Linear(hidden, outputs))
        self.head = nn.Sequential(*dense)
        initialize(self, init)

    def forward(self, ids: Tensor) -> Tensor:
        vectors = self.embedding(ids)  # (N, length, embed_dim)
        if self.convolve:
            # Conv1d wants channels first; back to (N, length, filters) so the flattening order is Keras'.
            vectors = self.features(vectors.transpose(1, 2)).transpose(1, 2)
        return self.head(vectors)
