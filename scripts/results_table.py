"""docs/RESULTS.md from the runs of `make reproduce`: each study's reported figure beside ours, per variant.

    python scripts/results_table.py [logs/reproduce] [--out docs/RESULTS.md]

Reads every `<root>/<experiment>/**/metrics.json`; runs that differ only in `seed` are averaged (n = seeds).
"""

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Overrides that say how a run was made rather than which variant it is.
NOT_VARIANT = ("seed=", "experiment=", "paths.", "hydra.", "callbacks.progress_bar.")

# experiment: (what the study did, {variant override: the study's figure}), in the order of ../shared/SEEDS.md.
STUDIES = {
    "digits_cases": (
        "A. Digits MLP, UCI optdigits (5620), Adam, early stopping; test acc / loss",
        {
            "+digits_case=a": "0.960 / 0.125",
            "+digits_case=b": "0.980 / 0.069",
            "+digits_case=c": "0.956 / 0.141",
            "+digits_case=d": "0.972 / 0.086",
            "+digits_case=e": "0.960 / 0.149",
            "+digits_case=f": "0.983 / 0.074",
        },
    ),
    "digits_cases_official": (
        "A on the official writer-independent split (UCI test file as test; a hand-written loop reaches "
        "0.94-0.96); the study used a pooled random split",
        {},
    ),
    "mnist_cnn": (
        "B. CNNs on MNIST, batch 32; validation accuracy (net_1: model.pooling=max, net_2: model.pooling=stride)",
        {"model.pooling=max optimizer=adam": "net_1 + Adam ≈ 0.99 val"},
    ),
    "cifar10_cnn": (
        "B. CNNs on CIFAR-10; validation accuracy (net_1: model.pooling=max, net_2: model.pooling=stride)",
        {"model.pooling=max optimizer=adam": "net_1 + Adam 0.65 val (train 0.99)"},
    ),
    "mnist_dense": (
        "C. MNIST 784-128-128-10, sigmoid output, Adam, 3 epochs; train accuracy after 3 epochs (the study's is "
        "Keras' running mean during epoch 3, ours the best checkpoint's over the whole training split)",
        {"model.act=relu": "0.974 train", "model.act=sigmoid": "0.950 train"},
    ),
    "imdb_textcnn": ("C. IMDB TextCNN, Adam, batch 128, 2 epochs; test accuracy", {"": "0.8856"}),
    "imdb_mlp": ("C. IMDB embedding-MLP, Adam, batch 128, 3 epochs; test accuracy", {"": "0.8614"}),
    "mnist_baseline": ("D. MNIST 784-10-10, SGD, 5 epochs; test accuracy", {"": "0.920"}),
}


def variant(overrides: list[str]) -> str:
    return " ".join(item for item in overrides if not item.startswith(NOT_VARIANT))


def read_runs(directory: Path) -> dict[str, list[dict]]:
    runs = defaultdict(list)
    for path in sorted(directory.rglob("metrics.json")):
        metrics = json.loads(path.read_text())
        runs[variant(metrics["overrides"])].append(metrics)
    return runs


def mean(runs: list[dict], key: str) -> float:
    return statistics.fmean(run[key] for run in runs)


def study_figure(figures: dict[str, str], name: str) -> str:
    """The figure whose key overrides all appear among the run's (the key "" fits every run)."""
    return next((figure for key, figure in figures.items() if set(key.split()) <= set(name.split())), "")


def table(experiment: str, runs: dict[str, list[dict]]) -> list[str]:
    title, figures = STUDIES[experiment]
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
        reference = "study, pooled split: 0.9685" if experiment == "digits_cases" else "a hand-written loop: 0.94-0.96"
        lines += [
            "",
            f"Mean test accuracy of the {len(case_means)} cases: **{statistics.fmean(case_means):.4f}** ({reference}).",
        ]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=ROOT / "logs" / "reproduce")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "RESULTS.md")
    parser.add_argument("--note", default="", help="a paragraph on how these runs were made (load, cuts)")
    args = parser.parse_args()
    lines = [
        "# Results on the real data sets",
        "",
        "Written by `python scripts/results_table.py` from the `metrics.json` of the runs `make reproduce` made",
        f"(under `{args.root.relative_to(ROOT) if args.root.is_relative_to(ROOT) else args.root}`). Accuracies "
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
