"""What a run's results are called, and reading them back: the splits, the metric names, metrics.json."""

import json
import math
from pathlib import Path

SPLITS = ("train", "val", "test")
METRICS = tuple(f"{split}_{name}" for split in SPLITS for name in ("loss", "acc"))
RESULTS = (*METRICS, "epochs", "best_epoch", "train_seconds", "params")  # a finished run's numbers
METRICS_FILE = "metrics.json"
# Overrides that say where or how a run was made rather than which variant it is.
NOT_SETTINGS = ("hydra.", "paths.", "callbacks.progress_bar.", "ckpt_path", "threads", "report")


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


def _implausible(key: str, value) -> str | None:
    """Why `value` cannot be a real result for `key` (None when it can)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    if not math.isfinite(value):
        return "not a finite number"
    if key.endswith("_acc") and not 0 <= value <= 1:
        return "an accuracy outside [0, 1]"
    if value < 0:
        return "a negative number"
    return None
