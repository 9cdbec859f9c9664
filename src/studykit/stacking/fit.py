"""Trains a group of members as one (`fit_group`): their networks' weights stacked (batched matrix products for
the MLP, torch.func's vmap over `functional_call` for the others), one forward and one backward for all (an
MLP of ReLU, tanh or sigmoid layers with its gradients written out, studykit.steps.mlp_gradients), while
each member keeps its own data split, initial weights, batch order, optimizer state and early stopping, each
built exactly as its single run builds them.

Members with the same optimizer settings share one optimizer (an elementwise update, the same per weight as the
member's own); a member that stops leaves the stack, so it costs nothing more. What each member did is kept in a
`MemberRecord` for its single run to replay.
"""

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import lightning
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torch.func import functional_call, vmap

from studykit.callbacks.periodic_checkpoint import improves
from studykit.classifier import predictions
from studykit.config.build import build_classifier
from studykit.lightning_internals import stops_early
from studykit.outputs.metrics import SPLITS
from studykit.run import stopping
from studykit.run.quiet import quiet_lightning
from studykit.run.stopping import StopRequested
from studykit.run.threads import choose_threads, forward_flops, prepare_torch, set_threads
from studykit.split_metrics import BASE_NAMES
from studykit.stacking.replay import MemberRecord
from studykit.steps.mlp_gradients import gradient_step
from studykit.steps.updates import update

log = logging.getLogger(__name__)
REDRAW_SECONDS = 0.25  # the group's moving line in a terminal; elsewhere one line every PRINT_SECONDS
PRINT_SECONDS = 10


@dataclass(eq=False)  # members are told apart by identity (sets of those leaving)
class Member:
    number: int
    cfg: DictConfig
    record: MemberRecord = field(default_factory=MemberRecord)
    environment: dict[str, str] = field(default_factory=dict)  # its job's hydra.job.env_set (a search's trial)
    built: bool = False

    def build(self) -> None:
        """As src/train.py builds a run: the same seed before the same calls, so the same split and weights."""
        if self.built:
            return
        self.built = True
        prepare_torch()
        quiet_lightning(self.cfg.verbose)
        lightning.seed_everything(self.cfg.seed, workers=True, verbose=False)
        self.datamodule, self.classifier = build_classifier(self.cfg)
        self.datamodule.setup()
        self.network = self.classifier.network
        self.params = dict(self.network.named_parameters())
        self.active = True
        self.steps = 0
        self.early_stopping = instantiate(self.cfg.callbacks.early_stopping)
        checkpoints = self.cfg.callbacks.model_checkpoint
        self.best_monitor, self.best_mode = checkpoints.get("monitor", "val/loss"), checkpoints.get("mode", "min")
        self.best_score: float | None = None
        pruning = self.cfg.callbacks.get("optuna_pruning")
        self.pruning = instantiate(pruning) if pruning else None
        if self.pruning is not None and not self.pruning.attach(self.environment):
            self.pruning = None

    def pruned_after(self, epoch: int, metrics: dict[str, Tensor]) -> bool:
        """Its search's pruner stops it after this epoch (as its run's OptunaPruning would)."""
        if self.pruning is None or not self.pruning.judge(epoch, float(metrics[self.pruning.metric])):
            return False
        self.record.pruned_at_epoch = epoch
        return True

    def stops_after(self, metrics: dict[str, Tensor]) -> bool:
        """Its run's EarlyStopping, asked after this epoch (thresholds and a later min_epochs make a job train
        alone): True when the member stops here."""
        return stops_early(self.early_stopping, metrics[self.early_stopping.monitor])

    def consider_best(self, metrics: dict[str, Tensor], epoch: int, weights: Callable[[], dict]) -> None:
        """Its run's PeriodicCheckpoint rule: the best weights by its monitor; `weights()` gives them."""
        score = float(metrics[self.best_monitor])
        if improves(score, self.best_score, self.best_mode):
            self.best_score, self.record.best_epoch = score, epoch
            self.record.best_weights = weights()


def members_that_fit(member: Member) -> int:
    """As many members like `member` as a quarter of the free memory (the GPU's, where the data lives there)
    holds: each its split of the data, and its weights six times over (gradients, optimizer state, best and last
    copies)."""
    member.build()
    data = sum(tensor.nbytes for split in member.datamodule.splits.values() for tensor in split)
    weights = sum(parameter.nbytes for parameter in member.params.values())
    free = (
        torch.cuda.mem_get_info()[0]
        if torch.cuda.is_available()
        else os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    )
    return max(2, int(free / 4 / (data + 6 * weights)))


def fit_group(members: list[Member], launcher: DictConfig, processes: int = 1) -> dict[int, MemberRecord]:
    """Trains `members` (built here where they are not yet) as one, on the threads the rule gives a process of
    `processes` sharing the cores (studykit.stacking.lanes); each member's number -> its record."""
    for member in members:
        member.build()
    numbers = [member.number for member in members]
    first = members[0]
    deterministic = first.cfg.trainer.get("deterministic")
    if deterministic:  # as Lightning's Trainer sets it for a single run
        torch.use_deterministic_algorithms(True, warn_only=deterministic == "warn")
    example, _ = first.datamodule.transform(tuple(t[:1] for t in first.datamodule.splits["train"]), training=False)
    flops = forward_flops(first.network, example) * first.datamodule.batch_size * len(members)
    set_threads(first.cfg.threads or choose_threads(flops, launcher, processes))
    stack = Stack(members)
    for member in members:
        member.record.step = stack.step_line
    max_epochs = first.cfg.trainer.max_epochs if first.cfg.trainer.max_epochs > 0 else sys.maxsize
    line = GroupLine(members)
    stacked_for: list[Member] = []
    for epoch in range(1, max_epochs + 1):
        active = stack.members
        if not active:
            break
        if active != stacked_for:  # the data of the members still training, stacked as they are
            stacked_for, train, val = active, _stacked_split(active, "train"), _stacked_split(active, "val")
        started = time.perf_counter()
        batch_losses = _train_epoch(stack, train)
        metrics = _validate(stack, val) | _train_metrics(active, train, batch_losses)
        share = (time.perf_counter() - started) / len(active)
        _finish_epoch(stack, epoch, batch_losses, metrics, share)
        if signum := stopping.requested():  # the group's work is redone by the same command
            raise StopRequested(signum, f"while jobs {', '.join(map(str, numbers))} trained as one group")
        line.update(epoch)
    stack.release(set(stack.members))
    line.close()
    _test_best(members, stack.forward)
    return {member.number: member.record for member in members}


def _test_best(members: list[Member], forward: Callable) -> None:
    """Each member's best weights measured on every split, as its run's test stage measures its best
    checkpoint (the same metrics over the same batches), all members at once; the run replays the results."""
    tested = [member for member in members if member.record.failure is None and member.record.best_weights]
    if not tested:
        return
    names = list(tested[0].record.best_weights)
    weights = {name: torch.stack([member.record.best_weights[name] for member in tested]) for name in names}
    for split in SPLITS:
        _, targets = data = _stacked_split(tested, split)
        losses, sizes, logits = _evaluated(tested, forward, weights, data)
        for index, member in enumerate(tested):
            measures = member.classifier.split_metrics
            member.record.tested[split] = measures.epoch(split, losses[index], sizes, logits[index], targets[index])
            member.record.test_confusion[split] = measures.confusion_matrix(logits[index], targets[index]).cpu()


class Stack:
    """The active members' weights as stacked tensors `(members, ...)`, one set per optimizer setting, each with
    its own optimizer (as the members' single runs build it: the update is elementwise, the same for each
    member's slice). A member that stops leaves the stack, its weights and optimizer state handed to its record,
    so it costs nothing more."""

    def __init__(self, members: list[Member]):
        self.names = list(members[0].params)
        by_settings: dict[str, list[Member]] = {}
        for member in members:
            by_settings.setdefault(str(OmegaConf.to_container(member.cfg.optimizer)), []).append(member)
        self.parts = []
        for group in by_settings.values():
            leaves = {name: nn.Parameter(torch.stack([m.params[name].detach() for m in group])) for name in self.names}
            self.parts.append((group, leaves, group[0].classifier.optimizer_factory(list(leaves.values()))))
        self.forward = batched_forward(members[0].network) or _vmapped_forward(members[0].network)
        written = members[0].cfg.get("classifier", {}).get("step", "auto") == "auto"
        self.gradient_step = gradient_step(members[0].network) if written else None
        how = "the MLPs' gradients written out" if self.gradient_step else "autograd"
        self.step_line = f"training step: in a stacked group of {len(members)}, {how}"
        self.updates: dict[torch.optim.Optimizer, Callable] = {}  # each optimizer's update of given gradients

    @property
    def members(self) -> list[Member]:
        return [member for group, _, _ in self.parts for member in group]

    def weights(self) -> dict[str, Tensor]:
        if len(self.parts) == 1:
            return self.parts[0][1]
        return {name: torch.cat([leaves[name] for _, leaves, _ in self.parts]) for name in self.names}

    def member_weights(self, member: Member) -> dict[str, Tensor]:
        group, leaves, _ = next(part for part in self.parts if member in part[0])
        row = group.index(member)
        return {name: leaves[name][row].detach().clone() for name in self.names}

    def train_step(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """One optimizer step of every member on its batch; the batch's logits and each member's loss."""
        if self.gradient_step is None:
            logits = self.forward(self.weights(), inputs)
            losses = _member_losses(logits, targets)
            for _, _, optimizer in self.parts:
                optimizer.zero_grad()
            losses.sum().backward()
            for _, _, optimizer in self.parts:
                optimizer.step()
            return logits.detach(), losses.detach()
        logits, losses, gradients = self.gradient_step(self.weights(), inputs, targets)
        start = 0
        for group, leaves, optimizer in self.parts:
            rows = slice(start, start + len(group))
            start += len(group)
            if optimizer not in self.updates:
                self.updates[optimizer] = update(optimizer)
            self.updates[optimizer](
                [gradients[name] if len(self.parts) == 1 else gradients[name][rows] for name in leaves]
            )
        return logits, losses

    def release(self, leaving: set[Member]) -> None:
        """`leaving` members' final weights and optimizer state to their records; the stack keeps the others."""
        parts = []
        for group, leaves, optimizer in self.parts:
            rows = [row for row, member in enumerate(group) if member not in leaving]
            for row, member in enumerate(group):
                if member in leaving and member.record.failure is None:
                    member.record.final_weights = {name: leaves[name][row].detach().clone() for name in self.names}
                    member.record.optimizer_state = self._own_state(member, leaves, optimizer, row, len(group))
            if len(rows) == len(group):
                parts.append((group, leaves, optimizer))
            elif rows:
                parts.append(self._kept(group, leaves, optimizer, rows))
        self.parts = parts
        self.updates = {}

    def _own_state(self, member: Member, leaves: dict, optimizer, row: int, size: int) -> dict:
        """The member's own optimizer (as its single run builds it) holding its slice of the shared state."""
        own = member.classifier.configure_optimizers()
        for name, parameter in zip(self.names, member.classifier.parameters(), strict=True):
            if state := _rows(optimizer.state.get(leaves[name], {}), [row], size, single=True):
                own.state[parameter] = state  # none: as a single run's (plain SGD keeps no state)
        return own.state_dict()

    def _kept(self, group: list[Member], leaves: dict, optimizer, rows: list[int]):
        kept = {name: nn.Parameter(leaves[name].detach()[rows].clone()) for name in self.names}
        new = group[0].classifier.optimizer_factory(list(kept.values()))
        for name in self.names:
            if leaves[name] in optimizer.state:
                new.state[kept[name]] = _rows(optimizer.state[leaves[name]], rows, len(group))
        return [group[row] for row in rows], kept, new


def _rows(state: dict, rows: list[int], size: int, single: bool = False) -> dict:
    """An optimizer's state of a stacked weight cut to `rows` (one row: unstacked); its counters as they are."""
    cut = {}
    for key, value in state.items():
        if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == size:
            value = value[rows[0]] if single else value[rows]
        cut[key] = value.clone() if torch.is_tensor(value) else value
    return cut


# Layers a stacked MLP applies as they are: elementwise, the same for every member.
ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SELU, nn.SiLU, nn.Mish, nn.Softplus)
ELEMENTWISE += (nn.LogSigmoid,)


def batched_forward(network: nn.Module) -> Callable | None:
    """The MLP's forward over stacked weights as batched matrix products (a third of vmap's cost per step for the
    small networks this is for); None for other networks."""
    from studykit.models.mlp import MLP

    if not isinstance(network, MLP):
        return None
    steps = []
    for index, layer in enumerate(network.layers):
        if isinstance(layer, nn.Linear):
            steps.append(f"layers.{index}")
        elif isinstance(layer, (nn.Flatten, *ELEMENTWISE)):
            steps.append(layer)
        else:
            return None

    def forward(weights: dict[str, Tensor], inputs: Tensor) -> Tensor:
        hidden = inputs
        for step in steps:
            if isinstance(step, str):
                bias, weight = weights[f"{step}.bias"].unsqueeze(1), weights[f"{step}.weight"].transpose(1, 2)
                hidden = torch.baddbmm(bias, hidden, weight)
            elif isinstance(step, nn.Flatten):
                hidden = hidden.flatten(2)
            else:
                hidden = step(hidden)
        return hidden

    return forward


def _vmapped_forward(network: nn.Module) -> Callable:
    def forward(weights: dict, inputs: Tensor) -> Tensor:
        return functional_call(network, weights, (inputs,))

    return vmap(forward)


def _stacked_split(active: list[Member], split: str) -> tuple[Tensor, Tensor]:
    return tuple(torch.stack([member.datamodule.splits[split][part] for member in active]) for part in (0, 1))


def _in_order(inputs: Tensor, targets: Tensor, orders: Tensor) -> tuple[Tensor, Tensor]:
    """Each member's samples in its own order `orders` `(members, count)`: one gather per epoch, so that each
    batch is a slice."""
    members, count = targets.shape
    flat = (orders + torch.arange(members, device=orders.device).unsqueeze(1) * count).flatten()
    return inputs.flatten(0, 1).index_select(0, flat).view_as(inputs), targets.flatten()[flat].view_as(targets)


def transformed(active: list[Member], batch: tuple[Tensor, Tensor], training: bool) -> tuple[Tensor, Tensor]:
    """The members' batches `(members, batch, ...)` through each member's own transform (its own normalization
    statistics and augmentation draws); data without one (features) as they are."""
    modules = [member.datamodule for member in active]
    return type(modules[0]).transform_stacked(modules, batch, training)


def _member_losses(logits: Tensor, targets: Tensor) -> Tensor:
    """Each member's mean loss over its batch, as studykit.classifier.loss computes it for one."""
    members, size = targets.shape
    if logits.shape[-1] == 1:
        losses = F.binary_cross_entropy_with_logits(logits.squeeze(-1), targets.float(), reduction="none")
    else:
        losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view(members, size)
    return losses.mean(1)


def _train_epoch(stack: Stack, train) -> Tensor:
    """One epoch of every member in the stack; the members' loss per batch `(batches, members)`."""
    inputs, targets = train
    active = stack.members
    count, batch_size = targets.shape[1], active[0].datamodule.batch_size
    orders = torch.stack([torch.randperm(count, generator=m.datamodule.order) for m in active]).to(targets.device)
    inputs, targets = _in_order(inputs, targets, orders)
    losses_per_batch, logits_per_batch = [], []
    for start in range(0, count, batch_size):
        part = slice(start, start + batch_size)
        batch_inputs, batch_targets = transformed(active, (inputs[:, part], targets[:, part]), True)
        logits, losses = stack.train_step(batch_inputs, batch_targets)
        losses_per_batch.append(losses)
        logits_per_batch.append(logits)
    # Counted once for the epoch, from each batch's predictions before its step (as the classifier counts).
    logits = torch.cat(logits_per_batch, dim=1)
    correct = (predictions(logits) == targets).sum(1)
    added = _added_metrics(active, "train", logits, targets)
    for index, member in enumerate(active):
        member.train_correct = correct[index]
        member.train_added = {name: value[index] for name, value in added.items()}
    return torch.stack(losses_per_batch)


def _added_metrics(active: list[Member], split: str, logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
    """The metrics the group's `metrics` config adds (the same for all its members), measured per member:
    `(members, samples, outputs)` logits -> name -> each member's value."""
    if len(active[0].classifier.split_metrics.names) == len(BASE_NAMES):
        return {}
    values = [
        member.classifier.split_metrics.added_metrics(split, member_logits, member_targets)
        for member, member_logits, member_targets in zip(active, logits, targets, strict=True)
    ]
    return {name: torch.stack([value[name] for value in values]) for name in values[0]}


def _train_metrics(active, train, batch_losses: Tensor) -> dict[str, Tensor]:
    """Mean training loss of the epoch's batches (weighted by their sizes), and accuracy, as the classifier
    measures them during training: the accuracy of each batch's predictions before its step."""
    _, targets = train
    count, batch_size = targets.shape[1], active[0].datamodule.batch_size
    sizes = _batch_sizes(count, batch_size).to(batch_losses.device, torch.float)
    loss = (batch_losses * sizes.unsqueeze(1)).sum(0) / count
    added = {name: torch.stack([m.train_added[name] for m in active]) for name in active[0].train_added}
    return {"train/loss": loss, "train/acc": torch.stack([m.train_correct for m in active]) / count} | added


def _validate(stack: Stack, val) -> dict[str, Tensor]:
    _, targets = val
    active = stack.members
    losses, sizes, logits = _evaluated(active, stack.forward, stack.weights(), val)
    loss_sum = torch.zeros(len(active), device=targets.device)
    for batch_losses, size in zip(losses.T, sizes, strict=True):  # batch by batch, as the sum always went
        loss_sum += batch_losses * size
    correct = (predictions(logits) == targets).sum(1)
    added = _added_metrics(active, "val", logits, targets)
    count = targets.shape[1]
    return {"val/loss": loss_sum / count, "val/acc": correct / count} | added


def _evaluated(members: list[Member], forward: Callable, weights: dict, data: tuple[Tensor, Tensor]):
    """Stacked `data` `(members, samples, ...)` in evaluation batches through `weights`: each member's mean loss
    per batch `(members, batches)`, the batches' sizes, and the logits `(members, samples, outputs)`."""
    inputs, targets = data
    count, batch_size = targets.shape[1], members[0].datamodule.eval_batch_size
    losses, logits = [], []
    with torch.no_grad():
        for start in range(0, count, batch_size):
            part = slice(start, start + batch_size)
            batch_inputs, batch_targets = transformed(members, (inputs[:, part], targets[:, part]), False)
            logits.append(forward(weights, batch_inputs))
            losses.append(_member_losses(logits[-1], batch_targets))
    sizes = _batch_sizes(count, batch_size).to(targets.device)
    return torch.stack(losses, dim=1), sizes, torch.cat(logits, dim=1)


def _batch_sizes(count: int, batch_size: int) -> Tensor:
    """The sizes of the batches `count` samples make, the last one short."""
    return torch.tensor([min(batch_size, count - start) for start in range(0, count, batch_size)])


def _finish_epoch(stack: Stack, epoch: int, batch_losses: Tensor, metrics: dict, share: float) -> None:
    """Per member: a diverging loss fails it (the line its single run would print); else the epoch's row, its
    best weights, and whether early stopping ends it here. Members that end leave the stack."""
    finite = torch.isfinite(batch_losses)
    leaving = set()
    for index, member in enumerate(stack.members):
        if not finite[:, index].all():
            first = int((~finite[:, index]).nonzero()[0])
            member.record.failure = (
                f"the training loss is {batch_losses[first, index].item()} at epoch {epoch}, step "
                f"{member.steps + first + 1} (batch {first + 1} of the epoch); lower optimizer.lr (now "
                f"{member.cfg.optimizer.lr:g}) or check the data"
            )
            member.record.failed_epoch = epoch
            leaving.add(member)
            continue
        member.steps += len(batch_losses)
        own = {name: value[index] for name, value in metrics.items()}
        previous = member.record.epochs[-1]["seconds"] if member.record.epochs else 0.0
        member.record.epochs.append({name.replace("/", "_"): float(value) for name, value in own.items()})
        member.record.epochs[-1]["seconds"] = previous + share
        member.consider_best(own, epoch, lambda member=member: stack.member_weights(member))
        stopped, pruned = member.stops_after(own), member.pruned_after(epoch, own)  # both, as a run's callbacks
        if stopped or pruned:
            leaving.add(member)
    for member in leaving:
        member.active = False
    stack.release(leaving)


class GroupLine:
    """One line for the group, moving in a terminal as its epochs pass: members training and stopped, and the
    best validation accuracy so far."""

    def __init__(self, members: list[Member]):
        self.members, self.stream = members, sys.stdout
        self.in_place = self.stream.isatty()
        self.drawn = time.perf_counter()
        self.best = 0.0
        self.text = ""

    def update(self, epoch: int) -> None:
        latest = [member.record.epochs[-1]["val_acc"] for member in self.members if member.record.epochs]
        self.best = max([self.best, *latest])
        training = sum(member.active for member in self.members)
        failed = sum(member.record.failure is not None for member in self.members)
        pruned = sum(member.record.pruned_at_epoch is not None for member in self.members)
        stopped = len(self.members) - training - failed - pruned
        self.text = (
            f"stacked epoch {epoch}: {training} training, {stopped} stopped"
            + (f", {pruned} pruned" if pruned else "")
            + (f", {failed} failed" if failed else "")
            + f" - best val_acc {self.best:.4f}"
        )
        now = time.perf_counter()
        if now - self.drawn >= (REDRAW_SECONDS if self.in_place else PRINT_SECONDS):
            self.drawn = now
            self._write()

    def close(self) -> None:
        self._write()
        if self.in_place:
            self.stream.write("\n")

    def _write(self) -> None:
        if self.in_place:
            self.stream.write(f"\r{self.text}\x1b[K")
        else:
            self.stream.write(self.text + "\n")
        self.stream.flush()
