"""What every network of the template is: a plain `nn.Module` that says which kinds of input it reads.

The contract with the data (`studykit.data.in_memory.InMemoryDataModule`): a data module gives `input_kind`
(`features`, `images` or `tokens`) and `network_sizes` (`input_shape`, `num_classes`, and what its kind adds, such
as `vocab_size` for tokens); a network subclasses `Network`, lists the kinds it reads in `input_kinds`, and takes
those sizes as keyword arguments of its constructor, besides its own settings from `configs/model/<name>.yaml`.
`studykit.config.build` checks both sides before anything is built, and says in one line what is missing.
"""

from typing import ClassVar

from torch import nn

INPUT_KINDS = ("features", "images", "tokens")


class Network(nn.Module):
    input_kinds: ClassVar[tuple[str, ...]] = ()
