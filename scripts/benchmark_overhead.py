"""Seconds per epoch of the digits MLP (2 x 40 ReLU, batch 32, Adam): src/train.py against a hand-written loop.

    python scripts/benchmark_overhead.py [--epochs 30] [--rounds 3]

Both run in this one process on the same split (seed 0), each epoch = one pass of training plus the validation
pass. Rounds alternate hand loop and template so machine noise hits both alike; the first epoch of each run
(warm-up) is left out, and the median over rounds is printed with the ratio template / hand loop.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from studykit.compose import compose_run  # noqa: E402
from studykit.config import build  # noqa: E402
from studykit.data.digits import DigitsDataModule  # noqa: E402
from studykit.models.mlp import MLP  # noqa: E402
from studykit.runtime import prepare_torch  # noqa: E402
from train import train  # noqa: E402

SETTINGS = ["model.hidden=40", "model.depth=2", "model.act=relu", "data.batch_size=32", "seed=0"]


def hand_loop_epoch_seconds(epochs: int, log_dir: Path) -> float:
    """The loop a student writes: shuffled index batches from tensors, the template's own optimizer settings
    (configs/optimizer/adam.yaml), a validation pass per epoch."""
    torch.manual_seed(0)
    splits = DigitsDataModule(seed=0).load_splits()
    (train_x, train_y), (val_x, val_y) = splits["train"], splits["val"]
    network = MLP((64,), 10, hidden=40, depth=2, act="relu")
    optimizer = build("optimizer", compose_run("train", SETTINGS, log_dir / "hand").optimizer)(network.parameters())
    stamps = []
    for _ in range(epochs):
        network.train()
        for index in torch.randperm(len(train_y)).split(32):
            loss = F.cross_entropy(network(train_x[index]), train_y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        network.eval()
        with torch.no_grad():
            logits = network(val_x)
            F.cross_entropy(logits, val_y).item(), (logits.argmax(1) == val_y).float().mean().item()
        stamps.append(time.perf_counter())
    return (stamps[-1] - stamps[0]) / (epochs - 1)


def template_epoch_seconds(epochs: int, log_dir: Path, round_number: int) -> float:
    """A real src/train.py run; per-epoch time from its history.csv (elapsed fit seconds at each epoch end)."""
    run_dir = log_dir / f"template_{round_number}"
    overrides = [
        *SETTINGS,
        f"trainer.max_epochs={epochs}",
        "callbacks.early_stopping.patience=100000",
        f"paths.log_dir={log_dir}",
    ]
    train(compose_run("train", overrides, run_dir))
    lines = (run_dir / "history.csv").read_text().splitlines()[1:]
    seconds = [float(line.split(",")[1]) for line in lines]
    return (seconds[-1] - seconds[0]) / (epochs - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # Importing src/train.py imports Lightning, which slows every Adam step on GPU-less machines until a run
    # calls prepare_torch; call it first so the hand loop's first round runs under the same conditions.
    prepare_torch(threads=None)
    hand, template = [], []
    with tempfile.TemporaryDirectory() as log_dir:
        for round_number in range(args.rounds):
            hand.append(hand_loop_epoch_seconds(args.epochs, Path(log_dir)))
            template.append(template_epoch_seconds(args.epochs, Path(log_dir), round_number))
    hand_ms, template_ms = statistics.median(hand) * 1000, statistics.median(template) * 1000
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} epochs x {args.rounds} rounds")
    print(f"hand-written loop: {hand_ms:7.2f} ms/epoch  (rounds: {', '.join(f'{s * 1000:.2f}' for s in hand)})")
    print(f"src/train.py:      {template_ms:7.2f} ms/epoch  (rounds: {', '.join(f'{s * 1000:.2f}' for s in template)})")
    print(f"ratio template / hand loop: {template_ms / hand_ms:.2f}")


if __name__ == "__main__":
    main()
