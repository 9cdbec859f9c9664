"""A processed copy of a data set as tensors in one file, rebuilt when its source files change."""

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from studykit.run import files

log = logging.getLogger(__name__)


def source_signature(paths: list[Path]) -> list[list]:
    return [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in paths]


def cached(path: Path | None, sources: list[Path], build: Callable[[], dict]) -> dict:
    """`build()`'s dict of tensors (and plain values), read from `path` when it was built from the same `sources`.

    The file is loaded with `weights_only=True` (tensors and plain containers only) and written whole or not at
    all. `path=None` turns caching off.
    """
    if path is None:
        return build()
    signature = source_signature(sources)
    if path.exists():
        try:
            content = torch.load(path, weights_only=True)
            if content.get("signature") == signature:
                return content["data"]
            log.info(f"{path} was built from other files; rebuilding it")
        except Exception as error:  # a damaged cache is only a slower start
            log.warning(f"warning: ignoring unreadable cache {path}: {error}")
    data = build()
    try:
        files.make_dir(path.parent)
        files.torch_save({"signature": signature, "data": data}, path)
    except files.OutputError as error:
        log.warning(f"warning: could not write the cache {path} ({error}); the files will be parsed again next run")
    return data
