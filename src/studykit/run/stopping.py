"""Stopping when asked: SIGTERM (SLURM's preemption and time limit, a shutdown, `kill`) or SIGINT (Ctrl-C).

The run finishes the epoch under way, saves its checkpoint there (`PeriodicCheckpoint`) and ends with one line
and exit status 128 + the signal's number, so the same command continues it exactly; a sweep then writes the
report of what finished and ends too. A second signal ends the process at once (its last checkpoint stays).
These handlers replace Lightning's own SIGTERM handler while fitting, which would stop mid-epoch with exit
status 0, as if the run had succeeded.
"""

import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_received: list[int] = []


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


def _note(signum: int, frame) -> None:
    if _received:  # asked twice: stop now, as without these handlers
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
    _received.append(signum)
