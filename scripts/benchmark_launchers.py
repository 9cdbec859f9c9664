"""Wall time of the digits six-case grid (study A: 6 runs) one job after another against Hydra's joblib launcher
running jobs side by side, each job with its share of the cores.

    python scripts/benchmark_launchers.py [--data-dir data] [--epochs 120] [--rounds 1]

Every run trains exactly `--epochs` epochs (early stopping off), so both launchers do the same work; the wall time
includes starting Python and the sweep, as a user would time `python src/train.py -m ...` (joblib's worker
processes import torch and Lightning once each, about 10 s here, so short jobs gain less). The sweeps alternate
per round, and the median is printed with the speed-up.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studykit.config.compose import PROJECT_ROOT


def sweep_seconds(launcher: list[str], data_dir: Path, epochs: int, log_dir: Path) -> float:
    command = [
        sys.executable,
        str(PROJECT_ROOT / "src" / "train.py"),
        "-m",
        "experiment=digits_cases",
        "seed=0",
        f"trainer.max_epochs={epochs}",
        "callbacks.early_stopping.patience=100000",
        "callbacks.progress_bar.enabled=false",
        "report=false",
        *launcher,
    ]
    environment = os.environ | {"DATA_DIR": str(data_dir), "LOG_DIR": str(log_dir)}
    start = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_ROOT, env=environment, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", PROJECT_ROOT / "data")))
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    launchers = {"one after another": [], f"joblib, {cores} jobs at a time": ["hydra/launcher=joblib"]}
    seconds: dict[str, list[float]] = {name: [] for name in launchers}
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(args.rounds):
            for index, (name, launcher) in enumerate(launchers.items()):
                log_dir = Path(scratch) / f"round{round_number}_launcher{index}"
                seconds[name].append(sweep_seconds(launcher, args.data_dir, args.epochs, log_dir))
    print(f"{cores} cores, 6 runs x {args.epochs} epochs, {args.rounds} rounds")
    for name, values in seconds.items():
        print(f"{name:28s} {statistics.median(values):7.1f} s  (rounds: {', '.join(f'{v:.1f}' for v in values)})")
    sequential, parallel = (statistics.median(values) for values in seconds.values())
    print(f"speed-up: {sequential / parallel:.2f}x")


if __name__ == "__main__":
    main()
