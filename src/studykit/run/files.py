"""Every file the project writes is written whole or not at all: into a temporary file beside it, then renamed
over it. A full disk or an unwritable folder becomes one `OutputError` naming the folder, and leaves nothing."""

import contextlib
import errno
import io
import json
import os
from pathlib import Path


class OutputError(RuntimeError):
    """A file could not be written (full disk, read-only or missing folder); the message says where and why."""


def write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """`durable`: flush the file to the disk before the rename, so even a power loss leaves the old file or the
    new one (skipped for files rewritten every epoch, where a process kill is what matters)."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as file:
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(partial, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise _cannot_write(path, error) from None


def write_text(path: Path, text: str, durable: bool = True) -> None:
    write_bytes(path, text.encode("utf-8"), durable)


class AppendedFile:
    """A file that grows a piece at a time (one line per epoch), kept open meanwhile; each piece is appended
    whole or not at all (a full disk can take part of a write: the file is cut back to where it was)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self._file = open(self.path, "a", encoding="utf-8", newline="")
        except OSError as error:
            raise _cannot_write(self.path, error) from None

    def append(self, text: str) -> None:
        end = self._file.tell()
        try:
            self._file.write(text)
            self._file.flush()
        except OSError as error:
            with contextlib.suppress(OSError):
                self._file.truncate(end)
                self._file.seek(end)
            raise _cannot_write(self.path, error) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


def write_json(path: Path, content: dict) -> None:
    write_text(path, json.dumps(content, indent=2) + "\n")


def torch_save(content: object, path: Path) -> None:
    import torch  # this module is also used before torch is imported (src/train.py's checks)

    buffer = io.BytesIO()
    torch.save(content, buffer)
    write_bytes(path, buffer.getvalue())


def remove_partial_files(directory: Path) -> None:
    """The temporary files of writers that were killed mid-write (call only while holding the dir's lock)."""
    for partial in Path(directory).rglob(".*.partial"):
        partial.unlink(missing_ok=True)


def make_dir(path: Path) -> Path:
    """`path` created if needed; an OutputError if it cannot be created or written to."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the folder {path}: {_reason(error)}") from None
    if not os.access(path, os.W_OK):
        raise OutputError(f"cannot write in {path}: it is read-only")
    return Path(path)


def _cannot_write(path: Path, error: OSError) -> OutputError:
    return OutputError(f"cannot write {path.name} in {path.parent}: {_reason(error)}")


def _reason(error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return "no space left on the device; free some and run the same command again to continue"
    return error.strerror or str(error)
