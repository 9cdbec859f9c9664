"""How a run fails: one clear line, recorded in the run dir's failure.txt; in a multirun the job fails alone and
the sweep goes on."""

import contextlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from studykit.errors import ConfigError, DataError, TrainingDiverged
from studykit.run import files, stopping
from studykit.run.locks import DirInUse
from studykit.run.ranks import process_rank
from studykit.run.stopping import StopRequested

FAILURE_FILE = "failure.txt"


@dataclass
class Interrupted:
    """What a launcher returns for a job whose process was ended from outside before its result (SLURM's
    `scancel`, a lost node): the same command continues it from its last checkpoint; a search retries it."""

    reason: str


# Failures whose message says all there is to say: a bad setting, bad data, a diverging loss, a full disk.
EXPLAINED = (ConfigError, DataError, TrainingDiverged, files.OutputError)
log = logging.getLogger(__name__)


@contextlib.contextmanager
def reported_as_one_line(output_dir: Path, on_failure: Callable[[], None] = lambda: None) -> Iterator[None]:
    """An explained failure: one logged line, also written to `failure.txt`; a single run then exits with status
    2. Any other exception (a bug, out of memory): its traceback goes to the log and one line to failure.txt; a
    single run ends with the traceback (status 1). In a multirun the job ends either way and the other jobs go
    on (`SweepEnd` reports them at the end). A stop signal (studykit.run.stopping) ends a single run or a whole
    sweep with status 128 + its number. `on_failure` records the failure elsewhere too (TensorBoard)."""
    single_run = HydraConfig.get().mode == RunMode.RUN
    (output_dir / FAILURE_FILE).unlink(missing_ok=True)
    try:
        yield
    except StopRequested as error:
        record_failure(output_dir, f"error: {error}", on_failure)
        stop(error, single_run)
    except DirInUse as error:  # another process owns the dir: write nothing there
        log.error(f"error: {error}")
        if single_run:
            sys.exit(2)
    except EXPLAINED as error:
        line = "error: " + " ".join(str(error).split())
        log.error(line)
        record_failure(output_dir, line, on_failure)
        if single_run:
            sys.exit(2)
    except Exception as error:
        line = f"error: {type(error).__name__}: {' '.join(str(error).split())}"
        record_failure(output_dir, line + " (the traceback is in this job's log)", on_failure)
        if single_run:
            raise
        log.error(f"{line}\n{traceback.format_exc()}")


def stop(error: StopRequested, single_run: bool) -> None:
    """Ends the process for a stop signal with its one line; a sweep writes its report of what finished first,
    once its side processes (studykit.stacking.lanes) have stopped too. A side process ends without either: its
    launcher says them."""
    if stopping.is_side_process():
        sys.exit(128 + error.signum)
    log.error(f"error: {error}")
    stopping.end_side_processes()
    if not single_run:
        from studykit.report.callback import end_of_sweep

        end_of_sweep(Path(HydraConfig.get().sweep.dir), report=True)
    sys.exit(128 + error.signum)


def record_failure(output_dir: Path, line: str, on_failure: Callable[[], None] = lambda: None) -> None:
    """`line` into the job's failure.txt (what `SweepEnd` lists); `on_failure` records it elsewhere too."""
    if process_rank() != 0:  # under DDP, rank 0 records the failure for the run
        return
    with contextlib.suppress(OSError, files.OutputError):  # a full disk: the line is logged, nothing more to do
        files.write_text(output_dir / FAILURE_FILE, line + "\n")
        on_failure()
