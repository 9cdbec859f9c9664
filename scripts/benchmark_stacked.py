"""Many runs as one: `hydra/launcher=stacked` whole commands against a one-process hand-written script doing the
same runs one after another (scripts/hand_loops.py: the same data, splits, initial weights, batch order, Adam,
early stopping, threads), side by side in one run.

    python scripts/benchmark_stacked.py [--data-dir DIR] [--only seeds_f,study_a,mnist_mlp] [--rounds 1] [--basic]

DIR holds optdigits/ and mnist/ as in the project's data/ (default: $DATA_DIR, else data/); caches go to a
temporary copy. Rows (wall time of each whole command, start-up included, rounds alternating):

  seeds_f    study A's case f (UCI digits, 2 x 40 ReLU) for seeds 0-19
  study_a    the whole study A: six cases x seeds 0-2 (experiment=digits_cases)
  mnist_mlp  the MNIST MLP 784-128-128-10, batch 32, seeds 0-7, 2 epochs each

Each row also gives the mean test accuracy of each side; `--basic` adds the same command under the basic
launcher (one run after another in the template).
"""

import argparse
import os
import re
import statistics
import tempfile
from pathlib import Path

import torch

from benchmark_speed import PYTHON, command_row, linked_data, report, wall_seconds
from studykit.config.compose import PROJECT_ROOT
from studykit.outputs.metrics import read_metrics

ROWS = {
    "seeds_f": (
        "20 seeds of study A's case f",
        ["data.source=uci", "model.hidden=40", "model.depth=2", "seed=range(0,20)"],
        ["digits-cases", "--cases", "f", "--seeds", "0-19"],
    ),
    "study_a": (
        "study A (6 cases x 3 seeds)",
        ["experiment=digits_cases"],
        ["digits-cases", "--seeds", "0-2"],
    ),
    "mnist_mlp": (
        "MNIST MLP, 8 seeds, 2 epochs",
        ["data=mnist", "model.hidden=128", "model.depth=2", "trainer.max_epochs=2", "seed=range(0,8)"],
        ["mnist-mlp", "--seeds", "0-7", "--epochs", "2"],
    ),
}


def sweep_accuracy(sweep: Path) -> float:
    return statistics.fmean(read_metrics(path)["test_acc"] for path in sweep.glob("*/metrics.json"))


def hand_accuracy(output: str) -> float:
    return statistics.fmean(float(value) for value in re.findall(r"test acc ([0-9.]+)", output))


def row(name: str, data_dir: Path, log_dir: Path, count: int, with_basic: bool) -> str:
    title, overrides, hand_arguments = ROWS[name]
    env = {"DATA_DIR": str(data_dir), "LOG_DIR": str(log_dir)}
    launchers = ["stacked", "basic"] if with_basic else ["stacked"]
    times: dict[str, list[float]] = {"hand": [], **{launcher: [] for launcher in launchers}}
    accuracy = {}
    for round_number in range(count):
        seconds, output = wall_seconds([PYTHON, "scripts/hand_loops.py", *hand_arguments], env)
        times["hand"].append(seconds)
        accuracy["hand"] = hand_accuracy(output)
        for launcher in launchers:
            sweep = log_dir / f"{name}-{launcher}-{round_number}"
            command = [
                PYTHON,
                "src/train.py",
                "-m",
                *overrides,
                f"hydra/launcher={launcher}",
                f"hydra.sweep.dir={sweep}",
            ]
            times[launcher].append(wall_seconds([*command, "callbacks.progress_bar.enabled=false"], env)[0])
            accuracy[launcher] = sweep_accuracy(sweep)
    lines = [command_row(f"{title}, stacked", times["stacked"], times["hand"])]
    if with_basic:
        lines.append(command_row(f"{title}, basic launcher", times["basic"], times["hand"]))
    means = ", ".join(f"{side} {value:.4f}" for side, value in accuracy.items())
    lines.append(f"|   mean test accuracy | {means} | | difference {abs(accuracy['stacked'] - accuracy['hand']):.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", PROJECT_ROOT / "data")))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    parser.add_argument("--basic", action="store_true", help="also the basic launcher's time for each row")
    args = parser.parse_args()
    report(f"{os.cpu_count()} cores, torch {torch.__version__}\n")
    report("| work | template | hand-written script | ratio template / hand |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = linked_data(args.data_dir.resolve(), Path(scratch) / "data")
        log_dir = Path(scratch) / "logs"
        log_dir.mkdir()
        for name in args.only.split(","):
            report(row(name, data_dir, log_dir, args.rounds, args.basic))


if __name__ == "__main__":
    main()
