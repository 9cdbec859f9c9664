"""Evaluate a checkpoint written by src/train.py on the train, val and test splits of its own data set.

    python src/eval.py ckpt_path=logs/runs/<run>/checkpoints/best.ckpt
    python src/eval.py ckpt_path=... paths.data_dir=/elsewhere/data

The checkpoint carries its run's config, so nothing else needs repeating. The eval run dir gets
metrics.json, confusion_<split>.png and TensorBoard events; its callbacks are configs/eval.yaml's `callbacks:`.
"""

from studykit.config.command_line import check_command_line

if __name__ == "__main__":
    check_command_line("eval")  # in about a second: importing torch and Lightning below takes several

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from studykit.config.build import build_classifier, build_trainer
from studykit.config.values import check_values
from studykit.outputs.metrics import METRICS_FILE, final_metrics, parameter_count
from studykit.run.checkpoints import read_run_config
from studykit.run.command_end import run_as_command
from studykit.run.failures import reported_as_one_line
from studykit.run.files import write_json
from studykit.run.quiet import quiet_lightning
from studykit.run.threads import prepare_torch, set_threads

log = logging.getLogger("eval")


def network_name(run_cfg) -> str:
    """`MLP` and such: the class a run's model config builds."""
    return run_cfg.model._target_.rsplit(".", 1)[-1]


def data_name(run_cfg) -> str:
    return run_cfg.data._target_.rsplit(".", 1)[-1].removesuffix("DataModule")


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    with reported_as_one_line(output_dir):
        check_values(cfg, hydra_cfg.job.config_name, hydra_cfg.overrides.task)
        prepare_torch()
        quiet_lightning(cfg.verbose)
        if cfg.threads is not None:
            set_threads(cfg.threads)
        run_cfg = OmegaConf.create(read_run_config(cfg.ckpt_path))
        run_cfg.data.data_dir = cfg.paths.data_dir
        datamodule, classifier = build_classifier(run_cfg)
        log.info(
            f"{network_name(run_cfg)} ({parameter_count(classifier.network):,} parameters, seed {run_cfg.seed}) on "
            f"{data_name(run_cfg)}, from {cfg.ckpt_path}"
        )
        trainer = build_trainer(cfg)
        trainer.test(classifier, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True, verbose=False)
        summary = final_metrics(trainer) | {"ckpt_path": str(Path(cfg.ckpt_path).resolve())}
        if trainer.is_global_zero:
            write_json(output_dir / METRICS_FILE, summary)
        accuracies = ", ".join(f"{split}_acc {summary[f'{split}_acc']:.4f}" for split in ("train", "val", "test"))
        losses = ", ".join(f"{split}_loss {summary[f'{split}_loss']:.4f}" for split in ("train", "val", "test"))
        log.info(f"{accuracies}; {losses}; results in {output_dir}")
        return summary["test_acc"]


if __name__ == "__main__":
    run_as_command(main)
