"""Hydra callback: writes the sweep report when a multirun ends (top-level `report=true`, the default)."""

import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from studykit.report.write import write_report

log = logging.getLogger(__name__)


class SweepReport(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if not config.get("report", True):
            return
        try:
            write_report(Path(config.hydra.sweep.dir))
        except Exception as error:  # the runs are done and saved; a failed report must not hide that
            log.error(f"the sweep report could not be written: {type(error).__name__}: {error}")
