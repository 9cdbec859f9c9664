"""Train a network on a data set, then test its best checkpoint (lowest val loss) on train, val and test.

    python src/train.py                                         # MLP on the bundled digits
    python src/train.py model.hidden=10 model.act=tanh seed=1
    python src/train.py -m model.hidden=10,40 model.act=relu,tanh   # a grid, one run dir each
    python src/train.py ckpt_path=<run>/checkpoints/last.ckpt       # continue from a checkpoint, in a new run dir
    python src/train.py hydra.run.dir=<run>                         # continue a killed run in its own dir
    python src/train.py -m <same grid> hydra.sweep.dir=<sweep>      # re-launch a sweep: finished jobs are kept

Each run dir holds metrics.json, history.csv, the resolved config.yaml, checkpoints/{best,last}.ckpt,
confusion_<split>.png and the TensorBoard events (`make tensorboard`).
"""

import json
import logging
import os
from pathlib import Path

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

import hydra  # noqa: E402
import lightning  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from studykit.callbacks.epoch_history import training_seconds  # noqa: E402
from studykit.checkpoints import resume_path  # noqa: E402
from studykit.config import build, build_classifier  # noqa: E402
from studykit.failures import reported_as_one_line  # noqa: E402
from studykit.overrides import exit_on_unknown_key  # noqa: E402
from studykit.run_summary import (  # noqa: E402
    checkpoint_epoch,
    final_metrics,
    hardware,
    hyperparameters,
    log_hparams,
    parameter_count,
    write_json,
)
from studykit.runtime import prepare_torch, threads_per_job  # noqa: E402

log = logging.getLogger("train")


def train(cfg: DictConfig) -> dict | None:
    """Fit, test the best checkpoint, write metrics.json; returns its content (None if the run failed)."""
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    if (output_dir / "metrics.json").exists():
        log.info(f"{output_dir} has finished already; keeping its results (delete its metrics.json to train again)")
        return json.loads((output_dir / "metrics.json").read_text())
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    with reported_as_one_line(output_dir):
        prepare_torch(cfg.threads or threads_per_job(hydra_cfg.launcher))
        lightning.seed_everything(cfg.seed, workers=True, verbose=False)
        log.info(f"data={hydra_cfg.runtime.choices.data} model={hydra_cfg.runtime.choices.model}")
        datamodule, classifier = build_classifier(cfg)
        callbacks = [build("callbacks", node) for node in cfg.callbacks.values()]
        loggers = [build("logger", node) for node in cfg.logger.values()]
        trainer = build("trainer", cfg.trainer, callbacks=callbacks, logger=loggers)

        log.info(f"fitting {parameter_count(classifier.network):,} parameters on {datamodule.split_sizes()}")
        ckpt_path = resume_path(cfg.ckpt_path, output_dir, cfg)
        if ckpt_path:
            log.info(f"continuing from {ckpt_path}")
        trainer.fit(classifier, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        epochs, seconds = trainer.current_epoch, training_seconds(trainer)
        best_path = trainer.checkpoint_callback.best_model_path
        log.info(f"testing the best checkpoint {best_path}")
        trainer.test(classifier, datamodule=datamodule, ckpt_path=best_path, weights_only=True, verbose=False)

        summary = final_metrics(trainer) | {
            "epochs": epochs,
            "best_epoch": checkpoint_epoch(best_path),
            "train_seconds": round(seconds, 4),
            "params": parameter_count(classifier.network),
            "hardware": hardware(trainer),
            "overrides": list(hydra_cfg.overrides.task),
        }
        if trainer.is_global_zero:
            write_json(output_dir / "metrics.json", summary)
            log_hparams(trainer, hyperparameters(cfg, dict(hydra_cfg.runtime.choices)), summary)
        log.info(" ".join(f"{key}={summary[key]:.4f}" for key in ("val_acc", "test_acc", "test_loss", "train_seconds")))
        return summary


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    summary = train(cfg)
    return summary["val_acc"] if summary else None


if __name__ == "__main__":
    exit_on_unknown_key("train")
    main()
