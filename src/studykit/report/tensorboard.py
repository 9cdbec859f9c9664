"""The sweep summary in TensorBoard: the table as text, and every finished run in the HParams view."""

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from studykit.results import METRICS


def log_sweep(log_dir: Path, rows: list[dict], keys: list[str], table: str) -> None:
    with SummaryWriter(str(log_dir)) as writer:
        writer.add_text("sweep/summary", table)
        for row in rows:
            if row["status"] != "finished":
                continue
            settings = {key: row[key] for key in keys} or {"job": row["job"]}
            writer.add_hparams(settings, {f"sweep/{metric}": row[metric] for metric in METRICS}, run_name=row["job"])
