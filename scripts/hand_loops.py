"""Minimal hand-written PyTorch training loops: what the template is measured against (scripts/benchmark_speed.py).

    python scripts/hand_loops.py digits-cases [--data-dir data] [--seeds 0]  # study A's six cases, one process
    python scripts/hand_loops.py digits-cases --cases f --seeds 0-19     # case f, twenty seeds one after another
    python scripts/hand_loops.py mnist-mlp --seeds 0-7 --epochs 2        # the MNIST MLP, eight seeds
    python scripts/hand_loops.py digits-cases --startup   # stop at the first training step, printing its time

They do the work the template does for the same settings and nothing else: the same data and splits, the same
networks and initial weights (the same seed), the same batches in the same order, Adam as configured in
configs/optimizer/adam.yaml, early stopping on the validation loss with the best weights tested; no files, no
logging, no figures. The template reproduces their numbers exactly (tests/test_training_loop.py), so the two sides
of every benchmark do the same arithmetic.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

Splits = dict[str, tuple[Tensor, Tensor]]
EVAL_BATCH = 1024
DIGITS_CASES = {"a": (10, 1, "relu"), "b": (40, 1, "relu"), "c": (10, 1, "tanh"), "d": (40, 1, "tanh")}
DIGITS_CASES |= {"e": (10, 2, "relu"), "f": (40, 2, "relu")}


def digits_splits(data_dir: Path | None, seed: int) -> Splits:
    """All 5620 UCI digits from `data_dir` (None: scikit-learn's bundled 1797), one stratified 60/20/20 split,
    standardized with the training statistics."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if data_dir is None:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
    else:
        files = [data_dir / "optdigits" / name for name in ("optdigits.tra", "optdigits.tes")]
        table = np.concatenate([np.loadtxt(path, delimiter=",", dtype=np.int64) for path in files])
        x, y = table[:, :64].astype(np.float64), table[:, 64]
    rest_x, test_x, rest_y, test_y = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    train_x, val_x, train_y, val_y = train_test_split(
        rest_x, rest_y, test_size=0.25, stratify=rest_y, random_state=seed
    )
    scaler = StandardScaler().fit(train_x)
    parts = {"train": (train_x, train_y), "val": (val_x, val_y), "test": (test_x, test_y)}
    return {
        split: (torch.from_numpy(scaler.transform(x).astype(np.float32)), torch.from_numpy(y))
        for split, (x, y) in parts.items()
    }


def mlp(inputs: int, hidden: int, depth: int, act: str, classes: int = 10) -> nn.Module:
    activation = {"relu": nn.ReLU, "tanh": nn.Tanh}[act]
    layers: list[nn.Module] = [nn.Flatten()]
    for _ in range(depth):
        layers += [nn.Linear(inputs, hidden), activation()]
        inputs = hidden
    return nn.Sequential(*layers, nn.Linear(inputs, classes))


def scale(images: Tensor) -> Tensor:
    """uint8 pixels to [0, 1], as the studies (and the template's image data) do per batch."""
    return images.float() / 255


def evaluate(network: nn.Module, x: Tensor, y: Tensor, prepare=None, batch: int = EVAL_BATCH) -> tuple[float, float]:
    """Mean loss and accuracy over `x`, in batches of `batch` (as the template's evaluation)."""
    network.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(y), batch):
            inputs = x[start : start + batch]
            logits = network(prepare(inputs) if prepare else inputs)
            targets = y[start : start + batch]
            total_loss += F.cross_entropy(logits, targets).item() * len(targets)
            correct += (logits.argmax(1) == targets).sum().item()
    network.train()
    return total_loss / len(y), correct / len(y)


class HandLoop:
    """One training run written out by hand, an epoch at a time: Adam, shuffled batches, a validation pass.
    `prepare` turns stored inputs into network inputs per batch (images: `scale`); `limit_batches` trains on the
    first batches of each epoch only."""

    def __init__(
        self,
        network: nn.Module,
        splits: Splits,
        seed: int = 0,
        batch_size: int = 32,
        prepare=None,
        eval_batch: int = EVAL_BATCH,
        limit_batches: int | None = None,
    ):
        self.network, self.splits, self.batch_size = network, splits, batch_size
        self.prepare, self.eval_batch, self.limit_batches = prepare, eval_batch, limit_batches
        self.optimizer = torch.optim.Adam(network.parameters(), lr=1e-3, weight_decay=0.0, fused=True)
        self.order = torch.Generator().manual_seed(seed)

    def epoch(self) -> tuple[float, float]:
        """Train one epoch, measuring its training loss and accuracy as it goes (the curves a study plots, and
        what the template measures too); the validation loss and accuracy after it."""
        train_x, train_y = self.splits["train"]
        loss_sum, correct, seen = torch.zeros(()), torch.zeros((), dtype=torch.long), 0
        for step, index in enumerate(torch.randperm(len(train_y), generator=self.order).split(self.batch_size)):
            if step == self.limit_batches:
                break
            inputs, targets = train_x[index], train_y[index]
            logits = self.network(self.prepare(inputs) if self.prepare else inputs)
            loss = F.cross_entropy(logits, targets)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach() * len(targets)
            correct += (logits.detach().argmax(1) == targets).sum()
            seen += len(targets)
        self.train_loss, self.train_acc = loss_sum.item() / seen, correct.item() / seen
        return evaluate(self.network, *self.splits["val"], self.prepare, self.eval_batch)


def fit(network: nn.Module, splits: Splits, seed: int, max_epochs: int = 1000, patience: int = 20, **options) -> dict:
    """Early stopping on the validation loss (`patience` epochs without a lower one); the best weights are
    tested at the end. `options`: those of `HandLoop`."""
    loop = HandLoop(network, splits, seed, **options)
    best_loss, best_epoch, best_weights, waited = float("inf"), 0, None, 0
    epoch, history = 0, []
    for epoch in range(1, max_epochs + 1):
        val_loss, _ = loop.epoch()
        history.append((loop.train_loss, loop.train_acc))
        if val_loss < best_loss:
            best_loss, best_epoch, waited = val_loss, epoch, 0
            best_weights = {name: value.clone() for name, value in network.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    network.load_state_dict(best_weights)
    test_loss, test_acc = evaluate(network, *splits["test"], loop.prepare, loop.eval_batch)
    results = {"epochs": epoch, "best_epoch": best_epoch, "val_loss": best_loss, "test_loss": test_loss}
    return results | {"test_acc": test_acc, "train_history": history}


def digits_cases(data_dir: Path, seeds: list[int], cases: str, startup: bool) -> None:
    """Each case of `cases` for each seed, one run after another (a seed gives its own split and weights)."""
    for seed in seeds:
        splits = digits_splits(data_dir, seed)
        for case in cases:
            hidden, depth, act = DIGITS_CASES[case]
            torch.manual_seed(seed)
            start = time.perf_counter()
            if startup:
                print(f"first training step at {time.time():.3f}", flush=True)
                return
            result = fit(mlp(64, hidden, depth, act), splits, seed)
            seconds = time.perf_counter() - start
            epochs, accuracy = result["epochs"], result["test_acc"]
            print(f"case {case} seed {seed}: {epochs} epochs, test acc {accuracy:.4f}, {seconds:.1f} s")


def mnist_mlp(data_dir: Path, seeds: list[int], epochs: int) -> None:
    """The MNIST MLP 784-128-128-10 (batch 32) for each seed, `epochs` epochs each, one run after another, on the
    template's own MNIST splits (its data module)."""
    from studykit.data.mnist import MNISTDataModule

    for seed in seeds:
        splits = MNISTDataModule(data_dir=str(data_dir), seed=seed, download=False).load_splits()
        torch.manual_seed(seed)
        start = time.perf_counter()
        result = fit(mlp(784, 128, 2, "relu"), splits, seed, max_epochs=epochs, prepare=scale, eval_batch=2048)
        print(f"seed {seed}: test acc {result['test_acc']:.4f}, {time.perf_counter() - start:.1f} s")


def seed_list(text: str) -> list[int]:
    """`3`, `0-19` or `0,4,7`."""
    if "-" in text:
        first, last = map(int, text.split("-"))
        return list(range(first, last + 1))
    return [int(seed) for seed in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", choices=["digits-cases", "mnist-mlp"])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", "data")))
    parser.add_argument("--seeds", type=seed_list, default=[0], help="3, 0-19 or 0,4,7")
    parser.add_argument("--cases", default="".join(DIGITS_CASES), help="of the digits cases a-f, e.g. f")
    parser.add_argument("--epochs", type=int, default=2, help="mnist-mlp's epochs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--startup", action="store_true", help="print the time of the first training step, stop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.work == "mnist-mlp":
        mnist_mlp(args.data_dir, args.seeds, args.epochs)
    else:
        digits_cases(args.data_dir, args.seeds, args.cases, args.startup)


if __name__ == "__main__":
    main()
