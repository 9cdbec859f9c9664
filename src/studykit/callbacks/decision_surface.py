"""The network's decision surface as it trains, for data with two features (data=circles; other data: nothing).

On the first epoch, every `every_n_epochs` and the last: the probability the network gives the last class over
the plane (a `resolution` x `resolution` grid over the square that holds the training points), its 0.5 contour
and the training points on top, beside the loss curves so far. Each frame goes to TensorBoard's Images tab
(`decision_surface`, by epoch) and to `decision_surface/epoch_<N>.png` in the run dir; when fitting ends,
`decision_surface.gif` animates the frames. Frames are files, so a resumed run keeps those drawn before.
"""

import math
import time
from pathlib import Path

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor

from studykit.callbacks.epoch_history import history_rows
from studykit.errors import require_int_at_least
from studykit.models.eval_mode import eval_mode
from studykit.run import files

FRAMES = "decision_surface"


class DecisionSurface(Callback):
    def __init__(self, directory: str, every_n_epochs: int = 10, resolution: int = 50, seconds_per_frame=0.2):
        self.directory = Path(directory)
        self.every_n_epochs = require_int_at_least("every_n_epochs", every_n_epochs, 1)
        self.resolution = require_int_at_least("resolution", resolution, 2)
        self.seconds_per_frame = seconds_per_frame
        self._drawn_epoch = 0
        self.seconds_drawing = 0.0  # while fitting: left out of the run's training time (epoch_history)

    def state_dict(self) -> dict:
        return {"seconds_drawing": self.seconds_drawing}

    def load_state_dict(self, state_dict: dict) -> None:
        self.seconds_drawing = state_dict["seconds_drawing"]

    @staticmethod
    def applies(trainer: Trainer) -> bool:
        datamodule = trainer.datamodule
        return getattr(datamodule, "input_kind", None) == "features" and tuple(datamodule.input_shape) == (2,)

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.applies(trainer) and (epoch == 1 or epoch % self.every_n_epochs == 0):
            started = time.perf_counter()
            self.draw(trainer, pl_module, epoch)
            self.seconds_drawing += time.perf_counter() - started

    @rank_zero_only
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.applies(trainer):
            return
        epoch = len(history_rows(trainer))
        if epoch and self._drawn_epoch != epoch:
            self.draw(trainer, pl_module, epoch)
        from studykit.outputs.pictures import gif

        frames = sorted((self.directory / FRAMES).glob("epoch_*.png"))
        frames = [path.read_bytes() for path in frames if int(path.stem.split("_")[1]) <= epoch]
        if frames:
            files.write_bytes(self.directory / f"{FRAMES}.gif", gif(frames, self.seconds_per_frame))

    def draw(self, trainer: Trainer, pl_module: LightningModule, epoch: int) -> None:
        from studykit.outputs.pictures import (  # matplotlib: only for data this callback draws
            pixels,
            png,
            to_tensorboard,
        )

        points, labels = trainer.datamodule.splits["train"]
        limit = math.ceil(2 * 1.05 * points.abs().max().item()) / 2  # the square [-limit, limit]², in halves
        grid = torch.linspace(-limit, limit, self.resolution, device=points.device)
        plane = torch.cartesian_prod(grid, grid).flip(1)  # rows: y, columns: x
        probability = last_class_probability(pl_module.network, plane).reshape(self.resolution, self.resolution)
        names, rows = pl_module.hparams.class_names, history_rows(trainer)
        figure = surface_figure(probability.cpu(), limit, points.cpu(), labels.cpu(), names, rows, epoch)
        encoded = png(pixels(figure))
        files.make_dir(self.directory / FRAMES)
        files.write_bytes(self.directory / FRAMES / f"epoch_{epoch:04d}.png", encoded)
        to_tensorboard(trainer.loggers, FRAMES, encoded, step=epoch)
        self._drawn_epoch = epoch


def last_class_probability(network: torch.nn.Module, inputs: Tensor) -> Tensor:
    """A network with one output gives the sigmoid of it."""
    with eval_mode(network):
        logits = network(inputs)
    return logits.sigmoid()[:, 0] if logits.shape[-1] == 1 else logits.softmax(-1)[:, -1]


def surface_figure(
    probability: Tensor, limit: float, points: Tensor, labels: Tensor, names: list[str], rows: list[dict], epoch: int
):
    """Laid out by hand (fixed axes): an automatic layout would draw every frame twice."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4), dpi=80)
    surface = figure.add_axes((0.06, 0.12, 0.36, 0.78))
    extent = (-limit, limit, -limit, limit)
    shown = surface.imshow(
        probability.numpy(), extent=extent, origin="lower", cmap="RdBu_r", vmin=0, vmax=1, interpolation="bilinear"
    )
    surface.contour(probability.numpy(), levels=[0.5], extent=extent, origin="lower", colors="black")
    for label, color in zip(range(len(names)), ("tab:blue", "tab:red", "tab:green", "tab:orange"), strict=False):
        chosen = labels == label
        x, y = points[chosen, 0], points[chosen, 1]
        surface.scatter(x, y, s=12, color=color, edgecolors="black", linewidths=0.4, label=names[label])
    surface.legend(fontsize=7, loc="upper right", framealpha=0.8)
    surface.set_xlim(-limit, limit)
    surface.set_ylim(-limit, limit)
    row = rows[epoch - 1] if len(rows) >= epoch else {}
    accuracy = f": val acc {row['val_acc']:.3f}" if "val_acc" in row else ""
    surface.set_title(f"epoch {epoch}{accuracy}", fontsize=10)
    colorbar = figure.colorbar(shown, cax=figure.add_axes((0.435, 0.12, 0.015, 0.78)))
    colorbar.set_label(f"probability of {names[-1]}", fontsize=8)
    losses = figure.add_axes((0.58, 0.12, 0.39, 0.78))
    shown_rows = rows[:epoch]
    for column, label in (("train_loss", "train"), ("val_loss", "val")):
        values = [(row["epoch"], row[column]) for row in shown_rows if column in row]
        if values:
            losses.plot(*zip(*values, strict=True), label=label)
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.set_xlim(0.5, max(epoch, 2) + 0.5)
    losses.legend(fontsize=8)
    losses.set_title("loss", fontsize=10)
    return figure
