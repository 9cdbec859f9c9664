"""How a run fails: a bad config or bad data gives one clear line, recorded in the run dir; a sweep goes on."""

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from studykit.errors import ConfigError, DataError, TrainingDiverged

FAILURE_FILE = "failure.txt"
log = logging.getLogger(__name__)


@contextmanager
def reported_as_one_line(output_dir: Path):
    """On a `ConfigError`, `DataError` or `TrainingDiverged`: log one line and write it to `failure.txt`. A single
    run then exits with status 2; in a multirun the job ends and the other jobs go on (`SweepFailures` reports at
    the end). A failure.txt left by an earlier attempt in the same dir is removed first."""
    (output_dir / FAILURE_FILE).unlink(missing_ok=True)
    try:
        yield
    except (ConfigError, DataError, TrainingDiverged) as error:
        line = "error: " + " ".join(str(error).split())
        log.error(line)
        (output_dir / FAILURE_FILE).write_text(line + "\n")
        if HydraConfig.get().mode == RunMode.RUN:
            sys.exit(2)


class SweepFailures(Callback):
    """At the end of a multirun, names the jobs that failed and exits with status 1 if there were any."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        failed = sorted(Path(config.hydra.sweep.dir).glob(f"*/{FAILURE_FILE}"))
        for path in failed:
            log.error(f"{path.parent.name}: {path.read_text().strip()}")
        if failed:
            log.error(f"{len(failed)} job(s) of the sweep failed")
            sys.exit(1)
