"""One writer per run or sweep dir: an advisory lock on the directory itself, held while a process writes there.
The kernel releases it when the process ends, however it ends, so a killed run leaves nothing stuck. Under DDP
the process of rank 0 holds it for all ranks (the others write nothing of their own)."""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from studykit.run import files
from studykit.run.ranks import process_rank

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, dirs are not guarded
    fcntl = None

_held: dict[Path, int] = {}


class DirInUse(RuntimeError):
    def __init__(self, key: str, directory: Path):
        super().__init__(
            f"{key}={directory} is in use by another process (a run or sweep writing there now); "
            "wait for it to end, or choose another dir"
        )


def hold(directory: Path, key: str) -> bool:
    """Lock `directory` (created if needed) for this process until it exits; False if it held it already."""
    if process_rank() != 0:
        return False
    directory = files.make_dir(directory).resolve()
    if directory in _held or fcntl is None:
        return False
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise DirInUse(key, directory) from None
    _held[directory] = descriptor
    return True


@contextlib.contextmanager
def held(directory: Path, key: str) -> Iterator[None]:
    """`hold` for the duration of the block (a lock this process held before stays held)."""
    acquired = hold(directory, key)
    try:
        yield
    finally:
        if acquired:
            os.close(_held.pop(Path(directory).resolve()))
