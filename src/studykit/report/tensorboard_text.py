"""The sweep's summary in TensorBoard's Text tab (`report/tensorboard/` in the sweep dir): a table of few, short
columns, which TensorBoard shows without wrapping words. No HParams entries: each run writes its own, and one
written here would compete with them."""

import shutil
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from studykit.report.render import markdown_table


def log_sweep(log_dir: Path, rows: list[dict]) -> None:
    """Replaces what an earlier report wrote there."""
    shutil.rmtree(log_dir, ignore_errors=True)
    table = markdown_table(rows)
    with SummaryWriter(str(log_dir)) as writer:
        writer.add_text("sweep", table)
