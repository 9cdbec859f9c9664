"""Hydra callback for the end of a multirun: the sweep report (top-level `report=true`, the default), then the
jobs that failed, named one per line, and exit status 1 if any did or the report could not be written
(`end_of_sweep`, also what a sweep asked to stop does before it ends; a stop asked for as its last job ended
ends it with that stop's exit status). One callback, so the report is written before the exit whatever order
Hydra calls callbacks in."""

import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from studykit.report.runs import job_directories
from studykit.run import stopping
from studykit.run.failures import FAILURE_FILE

log = logging.getLogger(__name__)


class SweepEnd(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        went_well = end_of_sweep(Path(config.hydra.sweep.dir), config.get("report", True))
        if signum := stopping.requested():  # asked while the last job was testing or replayed, which it finished
            log.error(f"error: {stopping.StopRequested(signum, 'as the sweep ended')}")
            sys.exit(128 + signum)
        if not went_well:
            sys.exit(1)


def end_of_sweep(sweep_dir: Path, report: bool) -> bool:
    """The report (when `report`), then each failed job in one line; whether all went well (every job finished,
    the report written)."""
    written = True
    if report and job_directories(sweep_dir):  # none: stopped before its first job
        from studykit.report.write import write_report  # matplotlib and TensorBoard: only when a sweep ends

        try:
            log.info(write_report(sweep_dir))
        except Exception as error:  # the runs are done and saved; a failed report must not hide that
            log.error(f"error: the sweep report could not be written: {type(error).__name__}: {error}")
            written = False
    failed = sorted(sweep_dir.glob(f"*/{FAILURE_FILE}"))
    for path in failed:
        log.error(f"{path.parent.name}: {path.read_text().strip()}")
    if failed:
        log.error(f"{len(failed)} job(s) of the sweep failed")
    return written and not failed
