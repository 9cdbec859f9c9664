"""docs/RESULTS.md from the runs of `make reproduce`: each study's reported figure beside ours, per variant.

    python scripts/results_table.py [logs/reproduce] [--out docs/RESULTS.md]

Reads every `<root>/<experiment>/**/metrics.json`; runs that differ only in `seed` are averaged (n = seeds).
"""

import argparse
import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from omegaconf import OmegaConf

from studykit.config.compose import PROJECT_ROOT

# Overrides that say how a run was made rather than which variant it is.
NOT_VARIANT = ("seed=", "experiment=", "paths.", "hydra.", "callbacks.progress_bar.")

# experiment: its title, the study's figures per variant and the rest, in the order of ../shared/SEEDS.md.
STUDIES = OmegaConf.to_container(OmegaConf.load(PROJECT_ROOT / "docs" / "studies.yaml"))


def variant(overrides: list[str]) -> str:
    return " ".join(item for item in overrides if not item.startswith(NOT_VARIANT))


def read_runs(directory: Path) -> dict[str, list[dict]]:
    runs = defaultdict(list)
    for path in sorted(directory.rglob("metrics.json")):
        metrics = json.loads(path.read_text())
        runs[variant(metrics["overrides"])].append(metrics | {"directory": path.parent})
    return runs


def mean(runs: list[dict], key: str) -> float:
    return statistics.fmean(run[key] for run in runs)


def study_figure(figures: dict[str, str], name: str) -> str:
    """The figure whose key overrides all appear among the run's (the key "" fits every run)."""
    return next((figure for key, figure in figures.items() if set(key.split()) <= set(name.split())), "")


def table(experiment: str, runs: dict[str, list[dict]]) -> list[str]:
    study = STUDIES[experiment]
    title, figures = study["title"], study["figures"]
    lines = [
        f"### {experiment}",
        "",
        title,
        "",
        "| variant (overrides) | study | n | train acc | val acc | test acc | test loss | epochs | best epoch "
        "| train s | hardware |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, group in sorted(runs.items()):
        hardware = ", ".join(sorted({run.get("hardware", "?") for run in group}))
        lines.append(
            f"| `{name or '(defaults)'}` | {study_figure(figures, name)} | {len(group)} "
            f"| {mean(group, 'train_acc'):.4f} "
            f"| {mean(group, 'val_acc'):.4f} | {mean(group, 'test_acc'):.4f} | {mean(group, 'test_loss'):.4f} "
            f"| {mean(group, 'epochs'):.1f} | {mean(group, 'best_epoch'):.1f} | {mean(group, 'train_seconds'):.1f} "
            f"| {hardware} |"
        )
    if experiment.startswith("digits_cases"):
        case_means = [mean(group, "test_acc") for group in runs.values()]
        lines += [
            "",
            f"Mean test accuracy of the {len(case_means)} cases: **{statistics.fmean(case_means):.4f}** "
            f"(the test asks for {study['check']} >= {study['threshold']}: {study['why']}).",
            *seed_spread(runs),
        ]
    if "log_train_loss" in study:
        lines += ["", *log_comparison(study, runs)]
    return [*lines, ""]


def seed_spread(runs: dict[str, list[dict]]) -> list[str]:
    """With several seeds: the mean over the variants for each seed, and how much it varies between seeds."""
    by_seed = defaultdict(list)
    for group in runs.values():
        for run in group:
            by_seed[next((item for item in run["overrides"] if item.startswith("seed=")), "seed=0")].append(run)
    if len(by_seed) < 2:
        return []
    seed_means = {seed: mean(group, "test_acc") for seed, group in sorted(by_seed.items())}
    spread = statistics.stdev(seed_means.values())
    each = ", ".join(f"{value:.4f} ({seed})" for seed, value in seed_means.items())
    return [
        "",
        f"The same mean for each seed: {each}; standard deviation between seeds {spread:.4f}, so a mean over "
        f"{len(seed_means)} seeds varies by about {spread / len(seed_means) ** 0.5:.4f}.",
    ]


def log_comparison(study: dict, runs: dict[str, list[dict]]) -> list[str]:
    """Our training loss and accuracy per epoch beside the study's own log (Keras' running means)."""
    (run,) = [run for group in runs.values() for run in group]
    with (run["directory"] / "history.csv").open(newline="") as file:
        history = list(csv.DictReader(file))
    lines = [
        "Training loss and accuracy per epoch, ours (mean over the epoch's batches) beside the study's log:",
        "",
        "| epoch | loss, ours | loss, study | accuracy, ours | accuracy, study |",
        "|---|---|---|---|---|",
    ]
    logged = zip(history, study["log_train_loss"], study["log_train_acc"], strict=False)
    for row, loss, accuracy in logged:
        lines.append(
            f"| {row['epoch']} | {float(row['train_loss']):.4f} | {loss:.4f} | {float(row['train_acc']):.4f} "
            f"| {accuracy:.4f} |"
        )
    return lines


def shown(path: Path) -> Path:
    return path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=PROJECT_ROOT / "logs" / "reproduce")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "RESULTS.md")
    parser.add_argument("--note", default="", help="a paragraph on how these runs were made (load, cuts)")
    args = parser.parse_args()
    lines = [
        "# Results on the real data sets",
        "",
        "Written by `python scripts/results_table.py` from the `metrics.json` of the runs `make reproduce` made",
        f"(under `{shown(args.root)}`). Accuracies "
        "and losses are those of the best checkpoint (lowest validation loss); n runs (seeds) averaged; `epochs` "
        "is how many were trained, `train s` the seconds of fitting. Variants list every override the runs were "
        "made with, so a shortened run (fewer epochs, part of the grid) says so in its row.",
        "",
        *([args.note, ""] if args.note else []),
    ]
    for experiment in STUDIES:
        runs = read_runs(args.root / experiment)
        lines += table(experiment, runs) if runs else [f"### {experiment}", "", "not run", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
