"""The training loop: several optimizer steps per Lightning step give the same results as one per batch, on
Lightning's own optimizer path (DDP, mixed precision) as on the direct one; steps are counted, clipped and
stopped as configured; the thread rule; progress lines; and the template reproduces the hand-written loop."""

import io
import os
import subprocess
import sys
import time

import pytest
import torch
from omegaconf import OmegaConf

import hand_loops
from conftest import outcome, read_json, run_script, train_in_process
from studykit.outputs.metrics import read_history
from studykit.run import threads
from studykit.run.threads import FLOPS_PER_THREAD, SECOND_THREAD_FLOPS, choose_threads, idle_cores, threads_per_job

EPOCHS = ["trainer.max_epochs=4", "callbacks.early_stopping.patience=1000"]


def test_batches_per_step_changes_nothing_but_speed(tmp_path):
    runs = {steps: tmp_path / f"steps{steps}" for steps in (1, 5, 256)}
    for steps, run_dir in runs.items():
        train_in_process(run_dir, *EPOCHS, f"classifier.batches_per_step={steps}")
    assert outcome(runs[1]) == outcome(runs[5]) == outcome(runs[256])


@pytest.mark.slow
def test_lightnings_optimizer_path_equals_the_direct_one_with_clipping(tmp_path):
    """DDP (here one CPU process) goes through Lightning's manual backward, optimizer wrapper and the clipping
    hook; one device in full precision steps the optimizer directly. Both must do the same arithmetic."""
    settings = [*EPOCHS, "classifier.gradient_clip_val=0.05", "threads=1"]
    direct = tmp_path / "direct"
    train_in_process(direct, *settings)
    ddp = ["trainer=ddp", "trainer.devices=1", "trainer.accelerator=cpu", f"hydra.run.dir={tmp_path / 'ddp'}"]
    result = run_script("train.py", *settings, *ddp, log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert outcome(tmp_path / "ddp") == outcome(direct)
    unclipped = tmp_path / "unclipped"
    train_in_process(unclipped, *EPOCHS, "threads=1")
    assert outcome(unclipped) != outcome(direct)


def test_clipping_bounds_every_step(tmp_path):
    """With SGD each step moves the weights by lr x the clipped gradient norm at most."""
    steps, lr, clip = 20, 0.5, 0.01
    settings = [
        "optimizer=sgd",
        f"optimizer.lr={lr}",
        f"classifier.gradient_clip_val={clip}",
        f"trainer.limit_train_batches={steps}",  # one epoch of `steps` steps (fewer max_steps would end it unvalidated)
        "trainer.max_epochs=1",
    ]
    train_in_process(tmp_path / "run", *settings)
    torch.manual_seed(0)  # the run's seed: the same initial weights
    initial = hand_loops.mlp(64, 40, 1, "relu").state_dict()
    trained = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    moved = torch.cat([(trained[f"network.layers.{name}"] - value).flatten() for name, value in initial.items()])
    assert 0 < moved.norm() <= steps * lr * clip * 1.0001


def test_max_steps_stops_at_that_optimizer_step(tmp_path):
    train_in_process(tmp_path / "run", "trainer.max_steps=50", "data.batch_size=32")  # 34 batches an epoch
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 50
    # The second epoch stopped part-way without a validation: it has no row of its own.
    assert [row["epoch"] for row in read_history(tmp_path / "run" / "history.csv")] == [1.0]
    assert read_json(tmp_path / "run" / "metrics.json")["best_epoch"] == 1


def test_mixed_precision_goes_through_the_gradient_scaler(tmp_path, monkeypatch):
    from lightning.pytorch.plugins.precision import MixedPrecision

    scales = []
    original = MixedPrecision.optimizer_step

    def counted(self, *args, **kwargs):
        scales.append(self.scaler.get_scale())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MixedPrecision, "optimizer_step", counted)
    plugin = "{_target_: lightning.pytorch.plugins.precision.MixedPrecision, precision: 16-mixed, device: cpu}"
    summary = train_in_process(
        tmp_path / "run", "trainer.max_epochs=3", "optimizer.fused=false", f"+trainer.plugins=[{plugin}]"
    )
    assert len(scales) == 3 * 34 and scales[0] == 65536.0
    assert summary["val_acc"] > 0.7


def test_the_thread_rule(monkeypatch):
    basic = OmegaConf.create({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"})
    joblib = OmegaConf.create({"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher", "n_jobs": 2})
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(threads, "idle_cores", lambda: cores)  # no other process busy
    assert choose_threads(SECOND_THREAD_FLOPS * 0.9, basic) == 1  # a step too small to split
    assert choose_threads(SECOND_THREAD_FLOPS * 1.1, basic) == min(2, cores)
    assert choose_threads(FLOPS_PER_THREAD * 2.5, basic) == min(2, cores)  # one thread per FLOPS_PER_THREAD
    monkeypatch.setattr(threads, "idle_cores", lambda: 1)  # another process keeps all but one core busy
    assert choose_threads(FLOPS_PER_THREAD * 64, basic) == 1
    monkeypatch.setattr(threads, "idle_cores", lambda: cores)
    assert choose_threads(FLOPS_PER_THREAD * 64, basic) == cores
    assert choose_threads(FLOPS_PER_THREAD * 3.5, basic) == min(3, cores)
    assert threads_per_job(joblib) == max(1, cores // 2)
    assert choose_threads(FLOPS_PER_THREAD * 64, basic, processes=cores) == 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_a_core_another_process_keeps_busy_is_not_counted_as_idle():
    cores = len(os.sched_getaffinity(0))
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert idle_cores(seconds=0.3) <= cores - 1
    finally:
        busy.kill()
        busy.wait()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True], ids=["log", "terminal"])
def test_progress_one_line_per_epoch_with_its_metrics_then_why_it_stopped(tmp_path, monkeypatch, terminal):
    stream = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    settings = ["callbacks.progress_bar.enabled=true", "callbacks.progress_bar.redraw_seconds=0"]
    train_in_process(tmp_path / "run", *settings, "trainer.max_epochs=3", "data.batch_size=8")
    text = stream.getvalue()
    lines = [line.split("\r")[-1].replace("\x1b[K", "") for line in text.split("\n")]
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/3", "2/3", "3/3"]
    for line in epochs:
        assert "135/135 [====================]" in line
        assert all(f" - {name}: " in line for name in ("loss", "acc", "val_loss", "val_acc"))
    assert any(line.startswith("Stopped at trainer.max_epochs=3; best epoch ") for line in lines)
    assert any(line.startswith("Testing: train") and "test 1/1" in line for line in lines)
    if terminal:  # the epoch's line moved while it trained, in place
        assert "\rEpoch 1/3 " in text and text.count("\rEpoch 1/3 ") > 1
    else:
        assert "\r" not in text and "\x1b" not in text


def test_the_template_reproduces_the_hand_written_loop(tmp_path):
    """Same data, split, initial weights, batch order and updates: the benchmark's two sides do the same work."""
    torch.manual_seed(0)
    hand = hand_loops.fit(
        hand_loops.mlp(64, 40, 2, "relu"), hand_loops.digits_splits(None, seed=0), seed=0, max_epochs=8
    )
    template = train_in_process(tmp_path / "run", "model.depth=2", "trainer.max_epochs=8", "threads=1")
    assert (template["epochs"], template["best_epoch"]) == (hand["epochs"], hand["best_epoch"])
    assert template["test_acc"] == pytest.approx(hand["test_acc"], abs=1e-7)
    assert template["val_loss"] == pytest.approx(hand["val_loss"], rel=1e-6)
    assert template["test_loss"] == pytest.approx(hand["test_loss"], rel=1e-6)
    rows = read_history(tmp_path / "run" / "history.csv")
    assert [float(row["train_loss"]) for row in rows] == pytest.approx([loss for loss, _ in hand["train_history"]])
    assert [float(row["train_acc"]) for row in rows] == pytest.approx([acc for _, acc in hand["train_history"]])
