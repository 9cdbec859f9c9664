"""The training step without autograd (studykit.steps): fused Adam's kernel called directly updates exactly as
`optimizer.step()`; an MLP run trains through the written-out step, says so in its log, and ends where the
autograd step ends to float32 rounding; other runs keep autograd and say why."""

import copy
import logging

import pytest
import torch
from torch import nn

from conftest import train_in_process
from studykit.models.mlp import MLP
from studykit.outputs.metrics import read_history
from studykit.steps.updates import direct_update
from studykit.steps.written_step import written_step

SHAPES = [(40, 64), (40,), (10, 40), (10,)]


def parameters(seed: int = 0) -> list[nn.Parameter]:
    torch.manual_seed(seed)
    return [nn.Parameter(torch.randn(shape)) for shape in SHAPES]


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.Adam(p, lr=1e-2, fused=True),
        lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True, fused=True),
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.05, maximize=True, fused=True),
    ],
    ids=["adam", "adam-amsgrad-weight-decay", "adamw-maximize"],
)
def test_the_direct_update_equals_optimizer_step_bit_for_bit(make):
    stepped, direct = parameters(), parameters()
    optimizer, own = make(stepped), make(direct)
    update = direct_update(own)
    assert update is not None
    steps_through_optimizer = []
    own.step = lambda: (steps_through_optimizer.append(1), type(own).step(own))
    for step in range(6):  # the first creates the state through optimizer.step(), the others call the kernel
        if step == 3:  # a checkpoint loaded (as on resume) replaces the settings and the state the kernel uses
            loaded = copy.deepcopy(optimizer.state_dict())
            loaded["param_groups"][0].update(lr=0.05, betas=(0.5, 0.9), eps=1e-4)
            optimizer.load_state_dict(copy.deepcopy(loaded))
            own.load_state_dict(loaded)
        gradients = [torch.randn(shape) for shape in SHAPES]
        for parameter, gradient in zip(stepped, gradients, strict=True):
            parameter.grad = gradient.clone()
        optimizer.step()
        update(gradients)
    assert steps_through_optimizer == [1]
    assert all(torch.equal(a, b) for a, b in zip(stepped, direct, strict=True))
    for a, b in zip(optimizer.state.values(), own.state.values(), strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_optimizers_on_other_paths_step_themselves():
    assert direct_update(torch.optim.Adam(parameters(), fused=False)) is None
    assert direct_update(torch.optim.SGD(parameters(), lr=0.1, fused=True)) is None
    first, *rest = parameters()
    assert direct_update(torch.optim.Adam([{"params": [first]}, {"params": rest}], fused=True)) is None
    assert direct_update(torch.optim.Adam(parameters(), lr=torch.tensor(0.01), fused=True)) is None


def test_networks_the_written_step_does_not_take_say_why():
    gelu = MLP(input_shape=(8,), num_classes=3, act="gelu")
    step, line = written_step(gelu, torch.optim.Adam(gelu.parameters()))
    assert step is None and line.startswith("training step: autograd (gradients are written out for an MLP")
    relu = MLP(input_shape=(8,), num_classes=3)
    step, line = written_step(relu, torch.optim.SGD(relu.parameters(), lr=0.1))
    assert step is not None and line == "training step: the MLP's gradients written out, SGD.step()"
    step, line = written_step(relu, torch.optim.Adam(reversed(list(relu.parameters()))))
    assert step is None and line.endswith("(the optimizer does not train exactly the network's parameters)")


def test_a_run_trains_without_autograd_to_the_autograd_steps_results(tmp_path, caplog):
    """Twelve epochs of the 2 x 40 digits MLP both ways: each epoch's losses within 1e-5 of each other (float32
    sums in another order), the same accuracies and best epoch, and the log says which step ran."""
    caplog.set_level(logging.INFO, logger="studykit.steps")
    settings = ["model.depth=2", "trainer.max_epochs=12", "threads=1"]
    written = train_in_process(tmp_path / "written", *settings)
    autograd = train_in_process(tmp_path / "autograd", *settings, "classifier.step=autograd")
    assert [record.getMessage() for record in caplog.records if record.name == "studykit.steps"] == [
        "training step: the MLP's gradients written out, fused Adam's kernel called directly",
        "training step: autograd (classifier.step=autograd)",
    ]
    assert written["best_epoch"] == autograd["best_epoch"]
    for key in ("test_acc", "val_acc", "train_acc"):
        assert written[key] == autograd[key]
    for key in ("test_loss", "val_loss", "train_loss"):
        assert written[key] == pytest.approx(autograd[key], rel=1e-5)
    histories = [read_history(tmp_path / run / "history.csv") for run in ("written", "autograd")]
    for ours, theirs in zip(*histories, strict=True):
        assert ours["train_acc"] == theirs["train_acc"] and ours["val_acc"] == theirs["val_acc"]
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-5)
    ours, theirs = (torch.load(tmp_path / run / "checkpoints" / "last.ckpt") for run in ("written", "autograd"))
    assert ours["optimizer_states"][0]["state"].keys() == theirs["optimizer_states"][0]["state"].keys()
    assert ours["global_step"] == theirs["global_step"] == 12 * 34
