"""The private Lightning internals the template relies on (all in studykit.lightning_internals) still exist and
still do what the template needs, checked on a real trainer: a release that moves one fails here, by name,
rather than silently in training."""

import torch
from lightning.pytorch.callbacks import EarlyStopping

from conftest import train_in_process
from studykit.config.build import build_trainer
from studykit.config.compose import compose_run
from studykit.lightning_internals import forget_metrics, publish_metrics, stops_early, without_anonymous_setting


def test_the_step_counter_and_the_checkpoint_dump_on_a_real_fit(tmp_path):
    """`optimizer_step_counter` drives `global_step` (so max_steps stops there); `full_checkpoint` is last.ckpt."""
    train_in_process(tmp_path / "run", "trainer.max_steps=40", "data.batch_size=32")  # 34 batches an epoch
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 40
    assert last["callbacks"] and last["optimizer_states"]


def test_metrics_published_reach_callback_metrics_and_can_be_forgotten(tmp_path):
    trainer = build_trainer(compose_run("train", [f"paths.log_dir={tmp_path}"], tmp_path / "run"))
    publish_metrics(
        trainer, {"val/loss": torch.tensor(0.5), "train/acc": torch.tensor(0.9), "test/acc": torch.tensor(1.0)}
    )
    assert float(trainer.callback_metrics["val/loss"]) == 0.5
    forget_metrics(trainer, ("train/", "val/"))
    assert list(trainer.callback_metrics) == ["test/acc"]


def test_early_stopping_asked_without_a_trainer_counts_epochs_without_improvement():
    """`stops_early` is the callback's own rule: patience, min_delta in the monitor's direction, a non-finite value."""
    rule = EarlyStopping(monitor="val/loss", patience=2, min_delta=0.05)
    verdicts = [stops_early(rule, torch.tensor(value)) for value in (1.0, 0.9, 0.87, 0.8, 0.79, 0.78)]
    assert verdicts == [False] * 5 + [True]  # 0.87, 0.79 and 0.78 improve by less than 0.05
    assert rule.best_score == torch.tensor(0.8)
    assert stops_early(EarlyStopping(monitor="val/acc", mode="max", patience=5), torch.tensor(float("nan")))


def test_the_wandb_logger_hands_wandb_init_no_anonymous_setting(tmp_path):
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(save_dir=tmp_path, offline=True)
    assert "anonymous" in logger._wandb_init  # what Lightning builds
    without_anonymous_setting(logger)
    assert "anonymous" not in logger._wandb_init and logger._wandb_init["project"] == "lightning_logs"
