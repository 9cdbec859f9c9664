"""The report as Markdown (figures linked) and as one self-contained HTML page (figures inline)."""

import base64
import html
from pathlib import Path

from studykit.report.runs import Run
from studykit.run.job_names import short_number

INTRO = (
    "One row per run, best validation accuracy first (ties: lower validation loss); the best run is marked. "
    "Losses and accuracies are those of each run's best checkpoint (lowest validation loss). Columns left of "
    "`params` are the settings that vary across the sweep."
)


def cell(value) -> str:
    """Numbers with 4 decimals (4 significant digits when large); a setting written with many digits (a search's
    learning rate) to 4 significant digits; everything else as plain text."""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"
    return short_number(str(value))


def markdown_text(text: str) -> str:
    """Text as Markdown shows it literally (an override or an error line may quote any value): no HTML, no links
    or images, no emphasis or code, no line or table breaks."""
    text = " ".join(str(text).split())
    for special in "\\`*[]()!|":  # not `_`: inside words, as in column names, it is no emphasis
        text = text.replace(special, "\\" + special)
    return html.escape(text, quote=False)


def markdown_table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(map(markdown_text, columns)) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(markdown_text(cell(row.get(column, ""))) for column in columns) + " |")
    return "\n".join(lines)


def column_values(rows: list[dict], column: str) -> list:
    """The column's values in the rows that have one."""
    return [row[column] for row in rows if row.get(column, "") != ""]


def plain_table(rows: list[dict]) -> str:
    """Aligned columns for the terminal: text left, numbers right."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[index]) for line in cells)) for index, column in enumerate(columns)]
    numeric = [all(isinstance(value, int | float) for value in column_values(rows, column)) for column in columns]

    def line(values: list[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(columns), *(line(values) for values in cells)])


def headline(rows: list[dict], best: Run | None, keys: list[str]) -> str:
    failed = sum(row["status"] == "failed" for row in rows)
    pruned = sum(row["status"].startswith("pruned") for row in rows)
    if best is None:
        return f"{len(rows)} runs, none finished" + (f" ({pruned} pruned)." if pruned else ".")
    metrics = best.metrics
    settings = " ".join(f"{key}={best.settings.get(key)}" for key in keys)
    job = str(best.number) + (f" ({settings})" if settings else "")
    return (
        f"{len(rows)} runs, {failed} not finished{f', {pruned} pruned' if pruned else ''}. Best by validation "
        f"accuracy: job {job}: "
        f"val acc {metrics['val_acc']:.4f}, test acc {metrics['test_acc']:.4f}, test loss {metrics['test_loss']:.4f}."
    )


def markdown(sweep_dir: Path, rows: list[dict], best: Run | None, keys: list[str], pictures: dict, replicas) -> str:
    parts = [
        f"# Sweep report: {markdown_text(sweep_dir.name)}",
        "",
        markdown_text(headline(rows, best, keys)),
        "",
        INTRO,
        "",
        markdown_table(rows),
        "",
    ]
    if replicas:
        parts += ["## Mean ± standard deviation over seeds", "", markdown_table(replicas), ""]
    for title, path in pictures.items():
        parts += [f"## {title}", "", f"![{title}]({path.relative_to(sweep_dir)})", ""]
    return "\n".join(parts)


def html_table(rows: list[dict], best_job: str | None) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = []
    for row in rows:
        style = ' class="best"' if row.get("job") == best_job and row.get("best") else ""
        cells = "".join(
            f"<td{' class=num' if isinstance(row.get(column), int | float) else ''}>"
            f"{html.escape(cell(row.get(column, '')))}</td>"
            for column in columns
        )
        body.append(f"<tr{style}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def html_code(text: str) -> str:
    """Text with `code` spans (as the Markdown report writes them) as HTML, everything else escaped."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


def html_page(sweep_dir: Path, rows: list[dict], best: Run | None, keys: list[str], pictures: dict, replicas) -> str:
    best_job = str(best.number) if best else None
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Sweep report: {html.escape(sweep_dir.name)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:0.9em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}td.num{text-align:right}"
        "tr.best{background:#dfd;font-weight:bold}"
        "img{max-width:100%}</style></head><body>",
        f"<h1>Sweep report: {html.escape(sweep_dir.name)}</h1>",
        f"<p>{html.escape(headline(rows, best, keys))}</p><p>{html_code(INTRO)}</p>",
        html_table(rows, best_job),
    ]
    if replicas:
        parts += ["<h2>Mean ± standard deviation over seeds</h2>", html_table(replicas, None)]
    for title, path in pictures.items():
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        image = f"<img alt='{html.escape(title)}' src='data:image/png;base64,{encoded}'>"
        parts += [f"<h2>{html.escape(title)}</h2>", image]
    parts.append("</body></html>")
    return "\n".join(parts)
