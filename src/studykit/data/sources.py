"""Finds a data set's official files in the data dir, downloads them when absent, or says how to provide them."""

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from studykit.errors import DataError

log = logging.getLogger(__name__)

Download = Callable[[Path], None]


def locate(files: dict[str, tuple[str, ...]], directories: list[Path], download: Download | None) -> dict[str, Path]:
    """`{name: path}` for each `{name: accepted file names}`, searched in `directories` in order.

    Missing files are fetched by `download(folder)` into a temporary folder beside `directories[0]` and moved
    there only once the download has finished, so a failed download leaves nothing half-written.
    """
    found = _find(files, directories)
    reason = "download=false"
    if len(found) < len(files) and download is not None:
        reason = _download_into(directories[0], download)
        found = _find(files, directories)
    missing = [" or ".join(names) for name, names in files.items() if name not in found]
    if missing:
        raise DataError(
            f"{', '.join(missing)} not found in {' nor '.join(map(str, directories))} ({reason}); "
            f"place the official files in {directories[0]}/ or set DATA_DIR to a folder that holds them"
        )
    return found


def _find(files: dict[str, tuple[str, ...]], directories: list[Path]) -> dict[str, Path]:
    found = {}
    for name, accepted in files.items():
        paths = [directory / file for directory in directories for file in accepted]
        existing = [path for path in paths if path.is_file()]
        if existing:
            found[name] = existing[0]
    return found


def _download_into(target: Path, download: Download) -> str:
    """Download into `target`; returns why nothing came when it failed."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-download-", dir=target.parent))
    except OSError as error:
        return f"cannot write to {target.parent}: {error}"
    try:
        log.info(f"downloading into {target}")
        download(staging)
        target.mkdir(exist_ok=True)
        for item in staging.iterdir():
            if not (target / item.name).exists():
                os.replace(item, target / item.name)
        return "downloaded"
    except Exception as error:  # network, HTTP, checksum or archive errors all mean "not downloaded"
        return f"downloading failed: {type(error).__name__}: {error}"
    finally:
        shutil.rmtree(staging, ignore_errors=True)
