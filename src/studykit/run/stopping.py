"""Stopping when asked: SIGTERM (SLURM's preemption and time limit, a shutdown, `kill`) or SIGINT (Ctrl-C).

The run finishes the epoch under way, saves its checkpoint there (`PeriodicCheckpoint`) and ends with one line
and exit status 128 + the signal's number, so the same command continues it exactly; a sweep then writes the
report of what finished and ends too. A second signal ends the process at once (its last checkpoint stays).
These handlers replace Lightning's own SIGTERM handler while fitting, which would stop mid-epoch with exit
status 0, as if the run had succeeded. A process a launcher forked for part of its sweep (studykit.stacking.lanes)
gets the launcher's signal passed on, and stops without the line and the report, which the launcher gives.
"""

import contextlib
import os
import signal
import threading
from collections.abc import Callable

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_received: list[int] = []
_side_processes: dict[int, Callable[[], object]] = {}  # pid -> what waits for it and shows its lines
_side = []


class StopRequested(RuntimeError):
    def __init__(self, signum: int, when: str):
        """`when`: where the run stood, e.g. `after epoch 5; its checkpoint is saved`."""
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name} {when}: run the same command again to continue")


def install() -> None:
    """Where Python delivers signals: the main thread (elsewhere, a job in a launcher's thread, nothing)."""
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, _note)


def requested() -> int | None:
    """The signal that asked this process to stop, if one did."""
    return _received[0] if _received else None


def add_side_process(pid: int, end: Callable[[], object]) -> None:
    """A signal this process gets is passed on to process `pid`; `end()` waits for it (before a stop's report)."""
    _side_processes[pid] = end


def remove_side_process(pid: int) -> None:
    _side_processes.pop(pid, None)


def end_side_processes() -> None:
    """Waits for every side process (each got this process's stop signal), as `end` of each says."""
    for end in list(_side_processes.values()):
        end()


def in_side_process() -> None:
    """This process works for a launcher that says what a stop means (a process forked for a part of its sweep);
    the launcher's other side processes, known here from before the fork, are the launcher's to signal."""
    _side.append(True)
    _side_processes.clear()


def is_side_process() -> bool:
    return bool(_side)


def _note(signum: int, frame) -> None:
    for pid in list(_side_processes):
        with contextlib.suppress(ProcessLookupError):  # ended already, not yet collected
            os.kill(pid, signum)
    if _received:  # asked twice: stop now, as without these handlers
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
    _received.append(signum)
