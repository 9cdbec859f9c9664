"""What a member of a stacked group hands to its own single run: its training, epoch by epoch, as the group did
it. The run replays it through the usual Lightning loop (callbacks, early stopping, checkpoints, history,
TensorBoard, the final test), so its files are a single run's, without training again."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class MemberRecord:
    """`epochs`: per epoch `train_loss`, `train_acc`, `val_loss`, `val_acc` and `seconds` (the member's share of
    the group's training time so far); the network's weights after `best_epoch` (1-based) and after the last
    epoch, and the optimizer's state then; `failure`: a diverging loss's line, at epoch `failed_epoch`;
    `pruned_at_epoch`: where an Optuna search's pruner stopped it. `tested`: its best weights' metrics on each
    split (`test/loss`, ...), as its run's test stage measures them, and `test_confusion` their confusion counts.
    `step`: how the group stepped, the line its run's log gets.
    """

    epochs: list[dict] = field(default_factory=list)
    tested: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    test_confusion: dict[str, Tensor] = field(default_factory=dict)
    best_epoch: int = 0
    best_weights: dict[str, Tensor] | None = None
    final_weights: dict[str, Tensor] | None = None
    optimizer_state: dict | None = None
    failure: str | None = None
    failed_epoch: int = 0
    pruned_at_epoch: int | None = None
    step: str = ""


_current: list[MemberRecord] = []


@contextlib.contextmanager
def replaying(record: MemberRecord | None) -> Iterator[None]:
    """The run started inside replays `record` (None: it trains as usual)."""
    if record is not None:
        _current.append(record)
    try:
        yield
    finally:
        if record is not None:
            _current.remove(record)


def current() -> MemberRecord | None:
    return _current[-1] if _current else None


def in_replay() -> bool:
    """Whether the run in progress replays a stacked member: its batches are then counted, not cut."""
    return bool(_current)
