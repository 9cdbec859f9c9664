"""Initial weights by name: torch's layer defaults, or Keras' (the studies' framework) for a faithful rerun."""

from torch import nn

from studykit.errors import require_choice

INITIALIZATIONS = ("torch", "keras")


def initialize(network: nn.Module, scheme: str) -> None:
    """`keras`: Glorot-uniform weights and zero biases for dense and conv layers, embeddings uniform in
    [-0.05, 0.05]; `torch`: the layers' own defaults (Kaiming-uniform, embeddings standard normal)."""
    require_choice("init", scheme, INITIALIZATIONS)
    if scheme == "torch":
        return
    for module in network.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:  # a layer built with bias=False (before a normalization) has none
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.uniform_(module.weight, -0.05, 0.05)
