"""Hydra callback for the end of a multirun: the sweep report (top-level `report=true`, the default), then the
jobs that failed, named one per line, and exit status 1 if any did. One callback, so the report is written
before the exit whatever order Hydra calls callbacks in."""

import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from studykit.run.failures import FAILURE_FILE

log = logging.getLogger(__name__)


class SweepEnd(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if config.get("report", True):
            from studykit.report.write import write_report  # matplotlib and TensorBoard: only when a sweep ends

            try:
                log.info(write_report(sweep_dir))
            except Exception as error:  # the runs are done and saved; a failed report must not hide that
                log.error(f"the sweep report could not be written: {type(error).__name__}: {error}")
        failed = sorted(sweep_dir.glob(f"*/{FAILURE_FILE}"))
        for path in failed:
            log.error(f"{path.parent.name}: {path.read_text().strip()}")
        if failed:
            log.error(f"{len(failed)} job(s) of the sweep failed")
            sys.exit(1)
