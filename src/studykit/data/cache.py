"""A processed copy of a data set as tensors in one file, rebuilt when its source files change."""

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from studykit.run import files

log = logging.getLogger(__name__)
# The cache file read last, with its tensors: the jobs of a sweep in one process (a stacked group and its
# members' runs) read it once. Only the last, so a sweep over several data sets holds one at a time.
_last_read: list = [None, None]


def source_signature(paths: list[Path]) -> list[list]:
    return [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in paths]


def labelled_data_problem(data: dict, num_classes: int, ids_below: int | None = None) -> str | None:
    """What makes a data set's tensors unusable, or None: per split (`<split>_labels` beside `<split>_images` or
    `<split>_ids`), labels outside [0, num_classes), inputs and labels of different lengths, word ids outside
    [0, ids_below)."""
    for key, labels in data.items():
        if not key.endswith("_labels"):
            continue
        split = key.removesuffix("_labels")
        (inputs,) = [value for name, value in data.items() if name.startswith(f"{split}_") and name != key]
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            return f"{key} holds labels from {int(labels.min())} to {int(labels.max())}, not 0 to {num_classes - 1}"
        if len(inputs) != len(labels):
            return f"{split} has {len(inputs)} inputs for {len(labels)} labels"
        if ids_below is not None and len(inputs) and (int(inputs.min()) < 0 or int(inputs.max()) >= ids_below):
            return f"{split}_ids holds word ids from {int(inputs.min())} to {int(inputs.max())}, not below {ids_below}"
    return None


def cached(
    path: Path | None,
    sources: list[Path],
    build: Callable[[], dict],
    problem: Callable[[dict], str | None] = lambda data: None,
) -> dict:
    """`build()`'s dict of tensors (and plain values), read from `path` when it was built from the same `sources`
    and `problem(data)` finds nothing wrong with it (a cache changed on disk is rebuilt, never used).

    The file is loaded with `weights_only=True` (tensors and plain containers only) and written whole or not at
    all; read again unchanged in the same process, its tensors are shared (data modules only index them).
    `path=None` turns caching off.
    """
    if path is None:
        return build()
    signature = source_signature(sources)
    if path.exists():
        try:
            key = (path.resolve(), source_signature([path]), signature)
            if _last_read[0] == key:  # the same cache file again in this process (a sweep's next job)
                return _last_read[1]
            content = torch.load(path, weights_only=True)
            if content.get("signature") != signature:
                log.info(f"{path} was built from other files; rebuilding it")
            elif reason := problem(content["data"]):
                log.warning(f"warning: ignoring the damaged cache {path} ({reason}); rebuilding it")
            else:
                _last_read[:] = [key, content["data"]]
                return content["data"]
        except Exception as error:  # a damaged cache is only a slower start
            log.warning(f"warning: ignoring unreadable cache {path}: {error}")
    data = build()
    try:
        files.make_dir(path.parent)
        files.torch_save({"signature": signature, "data": data}, path)
    except files.OutputError as error:
        log.warning(f"warning: could not write the cache {path} ({error}); the files will be parsed again next run")
    return data
