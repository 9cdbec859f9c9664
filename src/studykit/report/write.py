"""Writes a sweep's report: summary.csv, report.md, report.html, the figures and a TensorBoard summary."""

import csv
import io
import statistics
from pathlib import Path

from studykit.outputs.metrics import METRICS, added_metrics
from studykit.report import figures, render
from studykit.report.runs import Run, job_directories, ranked, read_run, varying_keys
from studykit.report.tensorboard_text import log_sweep
from studykit.run import files

RUN_COLUMNS = ("params", "epochs", "best_epoch", "train_seconds", *METRICS)
# The few columns shown where space is short (the terminal, TensorBoard's Text tab), after job and varying keys
SHORT_COLUMNS = ("val_acc", "test_acc", "train_seconds", "status", "best")
FIGURES = "report"


def write_report(sweep_dir: Path) -> str:
    """Reads every job of `sweep_dir` and writes the report there; returns what the terminal shows: the runs as a
    table, the best named, where the report is."""
    runs = ranked([read_run(directory) for directory in job_directories(sweep_dir)])
    if not runs:
        raise FileNotFoundError(f"{sweep_dir} holds no Hydra jobs (no */.hydra/overrides.yaml)")
    keys = varying_keys(runs)
    finished = [run for run in runs if run.finished]
    best = next((run for run in finished if not run.pruned), None)
    added = list(dict.fromkeys(key for run in finished for key in added_metrics(run.metrics)))
    rows = [row(run, keys, run is best, added) for run in runs]
    short_rows = [{column: row.get(column, "") for column in ("job", *keys, *SHORT_COLUMNS)} for row in rows]
    files.write_text(sweep_dir / "summary.csv", csv_text(rows))
    pictures = draw(sweep_dir / FIGURES, runs, finished, best, keys)
    replicas = seed_means(finished, keys)
    files.write_text(sweep_dir / "report.md", render.markdown(sweep_dir, rows, best, keys, pictures, replicas))
    files.write_text(sweep_dir / "report.html", render.html_page(sweep_dir, rows, best, keys, pictures, replicas))
    log_sweep(sweep_dir / FIGURES / "tensorboard", short_rows)
    return "\n".join(
        [render.plain_table(short_rows), render.headline(rows, best, keys), f"report: {sweep_dir / 'report.md'}"]
    )


def row(run: Run, keys: list[str], best: bool, added: list[str]) -> dict:
    """`added`: the metrics the runs' `metrics` group added, columns after the usual ones."""
    values = {"job": str(run.number), **{key: run.settings.get(key, "") for key in keys}}
    values |= {column: run.metrics.get(column, "") for column in (*RUN_COLUMNS, *added)} if run.finished else {}
    values |= {"best": "yes" if best else "", "status": run.status, "error": run.error}
    return values


def csv_text(rows: list[dict]) -> str:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, list(dict.fromkeys(key for row in rows for key in row)))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def draw(directory: Path, runs: list[Run], finished: list[Run], best: Run | None, keys: list[str]) -> dict[str, Path]:
    files.make_dir(directory)
    pictures = {}
    if finished:
        pictures["Validation loss by epoch"] = figures.loss_curves(
            runs, keys, "epoch", directory / "val_loss_epoch.png"
        )
        pictures["Validation loss by training time"] = figures.loss_curves(
            runs, keys, "seconds", directory / "val_loss_seconds.png"
        )
        pictures["Test accuracy"] = figures.bars(
            finished, keys, "test_acc", "test accuracy", directory / "test_acc.png"
        )
        pictures["Training time"] = figures.bars(
            finished, keys, "train_seconds", "training seconds", directory / "train_seconds.png"
        )
    confusion = figures.best_confusion(best, keys, directory / "best_test_confusion.png") if best else None
    if confusion:
        pictures["Best run (by validation accuracy): normalized test confusion matrix"] = confusion
    if len(keys) == 2 and finished:
        pictures[f"Validation accuracy over {keys[0]} x {keys[1]}"] = figures.heatmap(
            runs, keys, directory / "val_acc_heatmap.png"
        )
    return pictures


def seed_means(finished: list[Run], keys: list[str]) -> list[dict]:
    """When `seed` is swept: each variant's mean and standard deviation over its seeds."""
    if "seed" not in keys:
        return []
    others = [key for key in keys if key != "seed"]
    groups: dict[tuple, list[Run]] = {}
    for run in finished:
        groups.setdefault(tuple(run.settings.get(key) for key in others), []).append(run)
    table = []
    for values, group in groups.items():
        entry = dict(zip(others, values, strict=True)) | {"seeds": len(group)}
        for metric in ("val_acc", "test_acc", "test_loss", "train_seconds"):
            numbers = [run.metrics[metric] for run in group]
            spread = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
            entry[metric] = f"{statistics.fmean(numbers):.4f} ± {spread:.4f}"
        table.append(entry)
    return sorted(table, key=lambda entry: entry["val_acc"], reverse=True)
