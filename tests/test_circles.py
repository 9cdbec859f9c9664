"""Study C's toy: the circles data (make_circles, its keys) and the decision surface drawn as the network trains,
read back from the run dir (frames, GIF) and TensorBoard (images by epoch)."""

import io

import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

from conftest import read_json, train_in_process
from studykit.data.circles import CirclesDataModule
from studykit.outputs.metrics import read_history


def radii(module: CirclesDataModule) -> dict[int, float]:
    """Each class's mean distance from the origin, over all splits."""
    points = torch.cat([module.splits[split][0] for split in ("train", "val", "test")])
    labels = torch.cat([module.splits[split][1] for split in ("train", "val", "test")])
    return {label: points[labels == label].norm(dim=1).mean().item() for label in (0, 1)}


def test_circles_follow_their_keys():
    module = CirclesDataModule()
    module.setup()
    assert module.split_sizes() == {"train": 300, "val": 100, "test": 100}
    assert [int(module.splits[split][1].sum()) for split in ("train", "val", "test")] == [150, 50, 50]
    outer, inner = radii(module).values()
    assert abs(outer - 1) < 0.02 and abs(inner - 0.5) < 0.02
    other = CirclesDataModule(n_samples=200, factor=0.3, noise=0.0, seed=1)
    other.setup()
    assert sum(other.split_sizes().values()) == 200
    outer, inner = radii(other).values()
    assert abs(outer - 1) < 1e-5 and abs(inner - 0.3) < 1e-5


def test_the_decision_surface_is_drawn_as_it_trains(tmp_path):
    run_dir = tmp_path / "run"
    every = ["callbacks.decision_surface.every_n_epochs=10", "trainer.max_epochs=30"]
    summary = train_in_process(run_dir, "experiment=circles", *every)
    assert summary["params"] == 70 and len(read_history(run_dir / "history.csv")) == 30
    # Drawing is not training: the frames' seconds are left out of train_seconds (and history's seconds).
    states = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["callbacks"]
    drawing = next(state["seconds_drawing"] for key, state in states.items() if key.startswith("DecisionSurface"))
    timer = next(state["time_elapsed"]["train"] for key, state in states.items() if key.startswith("Timer"))
    assert drawing > 0 and summary["train_seconds"] == round(timer - drawing, 4)
    frames = sorted(path.name for path in (run_dir / "decision_surface").iterdir())
    assert frames == ["epoch_0001.png", "epoch_0010.png", "epoch_0020.png", "epoch_0030.png"]
    animation = Image.open(io.BytesIO((run_dir / "decision_surface.gif").read_bytes()))
    assert animation.n_frames == 4 and animation.size == (720, 320)
    first, last = (Image.open(run_dir / "decision_surface" / name).convert("RGB") for name in (frames[0], frames[-1]))
    assert first.size == (720, 320) and first.tobytes() != last.tobytes()
    events = EventAccumulator(str(run_dir), size_guidance={IMAGES: 0})
    events.Reload()
    assert [image.step for image in events.Images("decision_surface")] == [1, 10, 20, 30]
    assert read_json(run_dir / "metrics.json")["test_acc"] > 0.9  # past the sigmoids' plateau at 0.5


def test_no_decision_surface_for_other_data(default_run):
    assert not (default_run / "decision_surface").exists() and not (default_run / "decision_surface.gif").exists()
