"""A sweep's stacked parts side by side, one process per idle core: the launcher's own process takes the first
share, and a process forked from it (everything imported, nothing trained yet) each further share. Each trains
its parts and writes its jobs' runs; its terminal lines are kept and shown when it ends, its jobs' returns handed
back. A forked process ends with the launcher's: a stop signal reaches it through the launcher (which waits for
it before the report), a killed launcher takes it along, and its jobs continue as after any kill."""

import contextlib
import ctypes
import logging
import os
import pickle
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from studykit.run import stopping

MIN_PART = 3  # members: a part is halved for another process only where both halves keep at least this many
PR_SET_PDEATHSIG = 1
log = logging.getLogger(__name__)


def spread(parts: list[list[int]], processes: int) -> list[list[list[int]]]:
    """`parts` (job numbers, each a stacked part) in at most `processes` shares of about as many members each,
    the first holding the first job; a part is halved while there are fewer parts than processes."""
    parts = [list(part) for part in parts]
    while len(parts) < processes:
        largest = max(parts, key=len, default=[])
        if len(largest) < 2 * MIN_PART:  # as `could_share` says
            break
        index, half = parts.index(largest), (len(largest) + 1) // 2
        parts[index : index + 1] = [largest[:half], largest[half:]]
    shares: list[list[list[int]]] = [[] for _ in range(min(processes, len(parts)))]
    for part in sorted(parts, key=len, reverse=True):  # the largest first, each to the share with fewest members
        min(shares, key=lambda share: sum(map(len, share))).append(part)
    return sorted((sorted(share) for share in shares), key=lambda share: share[0][0])


def could_share(parts: list[list[int]]) -> bool:
    """Whether `spread` could make more than one share of `parts`: several parts, or one it halves."""
    return len(parts) >= 2 or (len(parts) == 1 and len(parts[0]) >= 2 * MIN_PART)


def can_fork() -> bool:
    """Where a forked process starts sound: Linux, no CUDA context in this process."""
    import torch

    return sys.platform.startswith("linux") and not torch.cuda.is_initialized()


@dataclass
class Lane:
    """A forked process working on `numbers` (its jobs); what it prints and returns goes to files without a name,
    which vanish with both processes however they end."""

    pid: int
    numbers: list[int]
    stdout: IO[bytes]
    stderr: IO[bytes]
    returns: IO[bytes]


def fork(numbers: list[int], work: Callable[[], list]) -> Lane:
    """`work()` (which returns the jobs' returns) in a process forked from this one."""
    kept = [tempfile.TemporaryFile() for _ in range(3)]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        lane = Lane(pid, numbers, *kept)
        stopping.add_side_process(pid, lambda: collect(lane))
        return lane
    status = 1
    try:
        os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the launcher alone, which passes it on once
        with contextlib.suppress(OSError, AttributeError):  # elsewhere than glibc: it ends when its work does
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the launcher died before that took hold
            os._exit(1)
        os.dup2(kept[0].fileno(), 1)
        os.dup2(kept[1].fileno(), 2)
        stopping.in_side_process()
        returns = work()
        kept[2].write(pickle.dumps([_picklable(ret) for ret in returns]))
        kept[2].flush()
        status = 0
    except SystemExit as end:  # a stop: its status; the launcher says the one line
        status = end.code if isinstance(end.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def collect(lane: Lane) -> list | None:
    """Waits for `lane`'s process, shows its terminal lines, and gives its jobs' returns (None where it ended
    without them: stopped, or failed, as the lines it showed say)."""
    _, status = os.waitpid(lane.pid, 0)
    stopping.remove_side_process(lane.pid)
    printed, errors, returns = (_content(kept) for kept in (lane.stdout, lane.stderr, lane.returns))
    sys.stdout.write(printed.decode(errors="replace"))
    sys.stdout.flush()
    sys.stderr.write(errors.decode(errors="replace"))
    code = os.waitstatus_to_exitcode(status)
    if returns and code == 0:
        return pickle.loads(returns)
    if not stopping.requested():
        log.warning(
            f"warning: the process of jobs {lane.numbers[0]}-{lane.numbers[-1]} ended with status {code} before "
            "its results; they run here, one by one"
        )
    return None


def _content(kept: IO[bytes]) -> bytes:
    with kept:
        kept.seek(0)
        return kept.read()


def _picklable(ret):
    """A job's return whose value (an exception a job raised) cannot be pickled carries its text instead."""
    try:
        pickle.dumps(ret)
    except Exception:
        ret.return_value = RuntimeError(f"{type(ret._return_value).__name__}: {ret._return_value}")
    return ret
