"""The sweep report, built from a real 2 x 2 sweep: rows, ranking, best run, figures, HTML, TensorBoard, and
runs whose files are missing or corrupt."""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT, read_json
from studykit.report.runs import Run, ranked
from studykit.report.write import seed_means, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = [
    "val_loss_epoch.png",
    "val_loss_seconds.png",
    "test_acc.png",
    "train_seconds.png",
    "best_test_confusion.png",
    "val_acc_heatmap.png",
]


def read_summary(sweep):
    with (sweep / "summary.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def test_one_row_per_run_with_the_swept_keys_sorted_by_val_acc(grid_sweep):
    rows = read_summary(grid_sweep)
    assert len(rows) == 4
    assert list(rows[0])[:3] == ["job", "model.hidden", "model.act"]  # trainer.max_epochs is the same for all
    for row in rows:
        (job_dir,) = grid_sweep.glob(f"{row['job']}_*")
        metrics = read_json(job_dir / "metrics.json")
        assert job_dir.name.endswith(f"hidden={row['model.hidden']},act={row['model.act']}")
        for key in ("val_acc", "val_loss", "test_acc", "train_seconds"):
            assert float(row[key]) == metrics[key]
        assert int(row["epochs"]) == 3 and row["status"] == "finished"
    order = [(-float(row["val_acc"]), float(row["val_loss"])) for row in rows]
    assert order == sorted(order)
    assert [row["best"] for row in rows] == ["yes", "", "", ""]


def test_figures_are_real_pngs_embedded_in_markdown_and_html(grid_sweep):
    report = (grid_sweep / "report.md").read_text()
    page = (grid_sweep / "report.html").read_text()
    for name in FIGURES:
        path = grid_sweep / "report" / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 5000
        assert f"](report/{name})" in report
    assert page.count("src='data:image/png;base64,") == len(FIGURES)
    best = read_summary(grid_sweep)[0]
    assert f"Best by validation accuracy: job {best['job']}" in report
    assert '<tr class="best">' in page


def test_tensorboard_gets_the_table_only_and_a_new_report_replaces_it(grid_sweep, tmp_path):
    sweep = shutil.copytree(grid_sweep, tmp_path / "sweep")
    write_report(sweep)
    write_report(sweep)
    directory = sweep / "report" / "tensorboard"
    assert [path.name for path in directory.iterdir()] == [next(directory.glob("events.out.tfevents.*")).name]
    events = EventAccumulator(str(directory))
    events.Reload()
    assert events.Tags()["tensors"] == ["sweep/text_summary"]  # the table; no HParams entries
    table = events.Tensors("sweep/text_summary")[0].tensor_proto.string_val[0].decode()
    assert table.startswith("| job | model.hidden | model.act | val_acc | test_acc | train_seconds | status |")


def test_a_corrupt_or_missing_metrics_file_marks_that_run_only(grid_sweep, tmp_path):
    sweep = shutil.copytree(grid_sweep, tmp_path / "sweep")
    shutil.rmtree(sweep / "report")
    jobs = sorted(path for path in sweep.iterdir() if path.is_dir() and path.name[0].isdigit())
    (jobs[0] / "metrics.json").write_text('{"val_acc": 0.9, "trunc')
    (jobs[1] / "metrics.json").unlink()
    write_report(sweep)
    rows = {row["job"]: row for row in read_summary(sweep)}
    assert rows["0"]["status"] == "failed" and rows["0"]["error"].startswith("metrics.json is corrupt")
    assert rows["1"]["status"] == "failed" and rows["1"]["error"].startswith("unfinished: no metrics.json")
    assert [rows[job]["status"] for job in ("2", "3")] == ["finished", "finished"]
    assert list(rows)[-2:] == ["0", "1"]  # listed after the finished runs, not dropped
    assert "4 runs, 2 not finished" in (sweep / "report.md").read_text()


def test_the_command_picks_the_newest_sweep(grid_sweep):
    environment = os.environ | {"LOG_DIR": str(grid_sweep.parents[1])}
    command = [sys.executable, str(ROOT / "scripts" / "report.py")]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()  # the table, the best run, where the report is: the path once
    assert lines[0].split()[:2] == ["job", "model.hidden"] and len(lines) == 7
    assert lines[-1] == f"report: {grid_sweep / 'report.md'}" and result.stdout.count(str(grid_sweep)) == 1


def finished(name, val_acc, val_loss, **settings):
    metrics = {"val_acc": val_acc, "val_loss": val_loss, "test_acc": val_acc, "test_loss": val_loss}
    return Run(directory=Path(name), settings=settings, metrics=metrics | {"train_seconds": 1.0})


def test_ties_in_val_acc_go_to_the_lower_val_loss():
    runs = [finished("0_a", 0.9, 0.30), finished("1_b", 0.95, 0.40), finished("2_c", 0.9, 0.20)]
    runs.append(Run(directory=Path("3_d"), settings={}, error="error: boom"))
    assert [run.name for run in ranked(runs)] == ["1_b", "2_c", "0_a", "3_d"]


def test_seed_replicas_are_averaged_per_variant():
    runs = [
        finished("0", 0.90, 0.3, **{"model.act": "relu", "seed": "0"}),
        finished("1", 0.94, 0.3, **{"model.act": "relu", "seed": "1"}),
        finished("2", 0.80, 0.5, **{"model.act": "tanh", "seed": "0"}),
        finished("3", 0.80, 0.5, **{"model.act": "tanh", "seed": "1"}),
    ]
    table = seed_means(runs, ["model.act", "seed"])
    assert [entry["model.act"] for entry in table] == ["relu", "tanh"]
    assert table[0]["seeds"] == 2 and table[0]["val_acc"] == "0.9200 ± 0.0283"
    assert table[1]["val_acc"] == "0.8000 ± 0.0000"


@pytest.mark.parametrize("keys", [["model.act"], []])
def test_no_seed_column_means_no_replica_table(keys):
    assert seed_means([finished("0", 0.9, 0.3, **{"model.act": "relu"})], keys) == []


def test_a_long_swept_value_is_cut_in_the_figures_and_every_report_file_is_written(tmp_path):
    from conftest import run_script

    long_value = "[" + ",".join(["1"] * 150) + "]"
    sweep = tmp_path / "sweep"
    arguments = ["-m", f"model.hidden={long_value},[2]", "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}"]
    result = run_script("train.py", *arguments, log_dir=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "could not be written" not in result.stdout + result.stderr
    for name in ("report.md", "report.html", "summary.csv", *(f"report/{figure}" for figure in FIGURES[:5])):
        assert (sweep / name).is_file(), name
    from studykit.report.figures import LONGEST_LABEL, label
    from studykit.report.runs import job_directories, read_run

    labels = [label(read_run(job), ["model.hidden"]) for job in job_directories(sweep)]
    assert labels == [f"hidden={long_value[:23]}…", "hidden=[2]"] and len(labels[0]) <= LONGEST_LABEL


def test_a_report_that_cannot_be_written_is_one_line(grid_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(grid_sweep, sweep)
    shutil.rmtree(sweep / "report")
    (sweep / "report").write_text("a file where the figures' folder goes")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "report.py"), str(sweep)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: cannot create the folder {sweep / 'report'}: File exists"]


def test_report_markdown_is_inert():
    from studykit.report.render import markdown_text

    text = markdown_text("[c](javascript:alert(1)) ![i](http://example.org/x.png) <b>x</b>\nnext | *cell* `code`")
    assert "\n" not in text and "<b>" not in text
    assert "](" not in text.replace("\\]\\(", "") and "![" not in text.replace("\\!\\[", "")
    assert text.startswith("\\[c\\]\\(javascript:alert\\(1\\)\\) \\!\\[i\\]") and "\\| \\*cell\\* \\`code\\`" in text


def test_report_html_aligns_numbers_right_and_text_left_and_shows_code_as_code(grid_sweep):
    page = (grid_sweep / "report.html").read_text()
    assert "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}td.num{text-align:right}" in page
    assert "<td class=num>" in page and "<td>finished</td>" in page  # a number right, a status left
    assert "<code>params</code>" in page and "`" not in page.split("<table>")[0]


def test_long_numbers_in_settings_are_short_in_job_names_and_tables():
    from studykit.report.render import cell
    from studykit.run.job_names import job_name, short_number

    assert job_name(3, ["optimizer.lr=0.004430375245218269", "model.hidden=96"]) == "3_lr=0.00443,hidden=96"
    assert cell("0.004430375245218269") == "0.00443" and cell(0.9833) == "0.9833"
    assert [short_number(text) for text in ("0.001", "1e-3", "123456789", "relu", "[0.1234567]")] == [
        "0.001",
        "1e-3",
        "123456789",
        "relu",
        "[0.1234567]",
    ]
