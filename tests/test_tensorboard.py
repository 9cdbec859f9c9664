"""The TensorBoard events of a run hold the per-epoch scalars, the confusion images and the HParams entry."""

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import read_json


def load_events(run_dir):
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    events.Reload()
    return events


def test_scalars_per_epoch_and_per_elapsed_time(default_run):
    events = load_events(default_run)
    for tag in ("train/loss", "train/acc", "val/loss", "val/acc"):
        assert [event.step for event in events.Scalars(tag)] == [1, 2, 3, 4], tag
    for tag in ("loss_vs_ms/train", "loss_vs_ms/val"):
        steps = [event.step for event in events.Scalars(tag)]
        assert len(steps) == 4 and steps == sorted(steps) and steps[0] > 0
    assert events.Scalars("val/loss")[-1].value == events.Scalars("loss_vs_ms/val")[-1].value


def test_final_metrics_match_metrics_json(default_run):
    events, metrics = load_events(default_run), read_json(default_run / "metrics.json")
    for key in ("val_acc", "test_acc", "test_loss", "train_seconds"):
        assert abs(events.Scalars(f"final/{key}")[0].value - metrics[key]) < 1e-4, key


def test_confusion_images_for_each_split(default_run):
    events = load_events(default_run)
    for split in ("train", "val", "test"):
        (image,) = events.Images(f"confusion/{split}")
        assert image.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n" and image.width > 200


def test_hparams_hold_the_settings_and_final_metrics(default_run):
    contents = load_events(default_run).PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(contents["_hparams_/experiment"]).experiment
    session = plugin_data_pb2.HParamsPluginData.FromString(contents["_hparams_/session_start_info"]).session_start_info
    assert session.hparams["model"].string_value == "mlp"
    assert session.hparams["model.hidden"].number_value == 40
    assert session.hparams["model.act"].string_value == "relu"
    assert session.hparams["optimizer.lr"].number_value == 0.001
    metric_tags = {info.name.tag for info in experiment.metric_infos}
    assert {"final/val_acc", "final/test_acc", "final/test_loss", "final/train_seconds"} <= metric_tags
