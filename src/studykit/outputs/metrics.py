"""What a run's results are called and where they are: the splits, the metric names (`val_acc` in files,
`val/acc` where Lightning and TensorBoard log it; more where a run's `metrics` group adds them), metrics.json and
history.csv, written and read back."""

import csv
import json
import math
import platform
from pathlib import Path

from studykit.errors import is_number

SPLITS = ("train", "val", "test")
METRICS = tuple(f"{split}_{name}" for split in SPLITS for name in ("loss", "acc"))
RESULTS = (*METRICS, "epochs", "best_epoch", "train_seconds", "params")  # a finished run's numbers
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"


def logged_name(metric: str) -> str:
    """The name under which Lightning logs a metric of the files: `val_acc` -> `val/acc`."""
    return metric.replace("_", "/", 1)


def final_metrics(trainer) -> dict[str, float]:
    """`train_loss`, `train_acc`, ... `test_acc` of the tested checkpoint, then the metrics the run's `metrics`
    group added (`train_f1_macro`, ...), from the test stage's metrics."""
    logged = {name.replace("/", "_", 1): float(value) for name, value in trainer.callback_metrics.items()}
    by_split = sorted(added_metrics(logged), key=lambda name: SPLITS.index(name.partition("_")[0]))
    return {metric: logged[metric] for metric in METRICS} | {name: logged[name] for name in by_split}


def added_metrics(metrics: dict) -> list[str]:
    """The keys of a run's metrics.json that its `metrics` group added (`val_f1_macro`, ...), in their order."""
    return [key for key in metrics if key.partition("_")[0] in SPLITS and key not in RESULTS]


def hardware(trainer) -> str:
    """What the run trained on, for results tables: the GPU's name, or the CPU's architecture and threads."""
    import torch

    device = trainer.strategy.root_device
    if device.type == "cuda":
        return f"{trainer.world_size} x {torch.cuda.get_device_name(device)}"
    return f"CPU {platform.machine()}, torch threads: {torch.get_num_threads()}"


def parameter_count(network) -> int:
    return sum(parameter.numel() for parameter in network.parameters())


def read_metrics(path: Path) -> dict:
    """A finished run's metrics.json; ValueError (with the reason) when it is corrupt or incomplete."""
    try:
        metrics = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"metrics.json is corrupt: {error}") from None
    if not isinstance(metrics, dict):
        raise ValueError("metrics.json is corrupt: not a JSON object")
    missing = [key for key in METRICS if key not in metrics]
    if missing:
        raise ValueError(f"metrics.json lacks {', '.join(missing)}")
    for key in RESULTS:
        if key in metrics and (problem := _implausible(key, metrics[key])):
            raise ValueError(f"metrics.json has {key}={metrics[key]!r}, {problem}")
    return metrics


def read_history(path: Path) -> list[dict[str, float]]:
    """history.csv's rows as numbers; none when the file is absent or a row was cut short by a kill."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        with path.open(newline="") as file:
            return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(file)]
    except (ValueError, TypeError):
        return []


def _implausible(key: str, value) -> str | None:
    """Why `value` cannot be a real result for `key` (None when it can)."""
    if not is_number(value):
        return "not a number"
    if not math.isfinite(value):
        return "not a finite number"
    if key.endswith("_acc") and not 0 <= value <= 1:
        return "an accuracy outside [0, 1]"
    if value < 0:
        return "a negative number"
    return None
