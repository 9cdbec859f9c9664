"""Seconds per epoch of the MNIST MLP (784-128-128-10 ReLU, batch 32, Adam) through our data module against the
common torchvision path (`datasets.MNIST` + `ToTensor` + `DataLoader`), both trained by the same Lightning
trainer, and a hand-written in-memory loop for reference.

    python scripts/benchmark_data.py [--data-dir data] [--epochs 3] [--rounds 2]

`--data-dir` holds `mnist/` with the official IDX files (default: $DATA_DIR, else the project's data/).
Rounds alternate the three paths so machine noise hits all alike; the first epoch of each run (warm-up) is
left out, and the median over rounds is printed with the ratios.
"""

import argparse
import gzip
import os
import statistics
import tempfile
import time
from pathlib import Path

import lightning
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, random_split
from torchvision import datasets, transforms

from studykit.config.build import build, build_classifier
from studykit.config.compose import PROJECT_ROOT, compose_run
from studykit.data.idx import FILES
from studykit.data.mnist import MNISTDataModule
from studykit.models.mlp import MLP
from studykit.run.threads import prepare_torch

SETTINGS = ["data=mnist", "model.hidden=128", "model.depth=2", "data.batch_size=32", "seed=0"]


class EpochStamps(lightning.Callback):
    def __init__(self):
        self.stamps = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.stamps.append(time.perf_counter())


class TorchvisionMNIST(lightning.LightningDataModule):
    """The usual template's data module: per-sample PIL -> ToTensor, collated by a DataLoader."""

    def __init__(self, root: Path, batch_size: int, eval_batch_size: int):
        super().__init__()
        self.root, self.batch_size, self.eval_batch_size = root, batch_size, eval_batch_size

    def setup(self, stage=None):
        full = datasets.MNIST(self.root, train=True, transform=transforms.ToTensor())
        self.train_set, self.val_set = random_split(full, [54000, 6000], generator=torch.Generator().manual_seed(0))

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.eval_batch_size)


def torchvision_root(data_dir: Path, into: Path) -> Path:
    """The raw folder torchvision's MNIST reads (`MNIST/raw/`, uncompressed), made from our IDX files."""
    raw = into / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for file in FILES.values():
        source = data_dir / "mnist" / file
        content = (
            source.read_bytes()
            if source.exists()
            else gzip.decompress((data_dir / "mnist" / (file + ".gz")).read_bytes())
        )
        (raw / file).write_bytes(content)
    return into


def lightning_epoch_seconds(cfg, datamodule_override, epochs: int) -> float:
    datamodule, classifier = build_classifier(cfg)
    stamps = EpochStamps()
    callbacks = [build("callbacks", node) for name, node in cfg.callbacks.items() if name != "confusion_images"]
    trainer = build("trainer", cfg.trainer, callbacks=[*callbacks, stamps], logger=False, max_epochs=epochs)
    trainer.fit(classifier, datamodule=datamodule_override or datamodule)
    return (stamps.stamps[-1] - stamps.stamps[0]) / (epochs - 1)


def hand_loop_epoch_seconds(cfg, data_dir: Path, epochs: int) -> float:
    """A student's loop over the same in-memory tensors: shuffled index batches, the same optimizer settings,
    a validation pass."""
    torch.manual_seed(0)
    splits = MNISTDataModule(data_dir=str(data_dir), download=False).load_splits()
    (train_x, train_y), (val_x, val_y) = splits["train"], splits["val"]
    network = MLP((1, 28, 28), 10, hidden=128, depth=2)
    optimizer = build("optimizer", cfg.optimizer)(network.parameters())
    stamps = []
    for _ in range(epochs):
        for index in torch.randperm(len(train_y)).split(32):
            loss = F.cross_entropy(network(train_x[index].float() / 255), train_y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            (network(val_x.float() / 255).argmax(1) == val_y).float().mean().item()
        stamps.append(time.perf_counter())
    return (stamps[-1] - stamps[0]) / (epochs - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", PROJECT_ROOT / "data")))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    prepare_torch()
    results = {"torchvision + DataLoader": [], "studykit data module": [], "hand-written loop": []}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        cfg = compose_run(
            "train",
            [*SETTINGS, f"paths.data_dir={args.data_dir}", "callbacks.progress_bar.enabled=false"],
            scratch / "run",
        )
        common = TorchvisionMNIST(torchvision_root(args.data_dir, scratch), 32, cfg.data.eval_batch_size)
        for _ in range(args.rounds):
            results["torchvision + DataLoader"].append(lightning_epoch_seconds(cfg, common, args.epochs))
            results["studykit data module"].append(lightning_epoch_seconds(cfg, None, args.epochs))
            results["hand-written loop"].append(hand_loop_epoch_seconds(cfg, args.data_dir, args.epochs))
    medians = {name: statistics.median(seconds) for name, seconds in results.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} epochs x {args.rounds} rounds")
    for name, seconds in results.items():
        rounds = ", ".join(f"{value:.2f}" for value in seconds)
        print(f"{name:26s} {medians[name]:6.2f} s/epoch  (rounds: {rounds})")
    common_seconds = medians["torchvision + DataLoader"]
    print(f"speed-up of our data module over torchvision: {common_seconds / medians['studykit data module']:.2f}x")
    print(f"speed-up of the hand-written loop over torchvision: {common_seconds / medians['hand-written loop']:.2f}x")


if __name__ == "__main__":
    main()
