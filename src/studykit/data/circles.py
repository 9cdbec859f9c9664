"""Two concentric circles of points in the plane (scikit-learn's make_circles): the toy of study C, small
enough to watch a network's decision surface form (callbacks.decision_surface)."""

import numpy as np
import torch

from studykit.data.in_memory import InMemoryDataModule, require_split_fractions, three_way_split
from studykit.errors import ConfigError, is_number, require_fraction, require_int_at_least


class CirclesDataModule(InMemoryDataModule):
    input_kind = "features"
    input_shape = (2,)
    num_classes = 2
    class_names = ["outer", "inner"]

    def __init__(
        self,
        n_samples: int = 500,
        noise: float = 0.05,
        factor: float = 0.5,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        batch_size: int = 32,
        eval_batch_size: int = 1024,
        seed: int = 0,
        device: str = "auto",
    ):
        super().__init__(batch_size, eval_batch_size, seed, device)
        self.n_samples = require_int_at_least("n_samples", n_samples, 1)
        if not is_number(noise) or noise < 0:
            raise ConfigError("noise", noise, "must be a number >= 0 (the standard deviation of the jitter)")
        self.noise = float(noise)
        self.factor = require_fraction("factor", factor)  # the inner circle's radius, the outer one's being 1
        self.val_fraction, self.test_fraction = require_split_fractions(val_fraction, test_fraction)

    def load_splits(self):
        from sklearn.datasets import make_circles  # sklearn.datasets alone takes 0.1 s to import

        points, labels = make_circles(self.n_samples, noise=self.noise, factor=self.factor, random_state=self.seed)
        splits = three_way_split(points, labels, self.val_fraction, self.test_fraction, self.num_classes, self.seed)
        return {
            split: (torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64)))
            for split, (x, y) in splits.items()
        }
