"""Evaluate a checkpoint written by src/train.py on the train, val and test splits of its own data set.

    python src/eval.py ckpt_path=logs/runs/<run>/checkpoints/best.ckpt
    python src/eval.py ckpt_path=... paths.data_dir=/elsewhere/data

The checkpoint carries its run's config, so nothing else needs repeating. The eval run dir gets
metrics.json, confusion_<split>.png and TensorBoard events.
"""

import logging
import os
from pathlib import Path

os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from studykit.callbacks.confusion_images import ConfusionImages  # noqa: E402
from studykit.checkpoints import read_run_config  # noqa: E402
from studykit.config import build, build_classifier  # noqa: E402
from studykit.failures import reported_as_one_line  # noqa: E402
from studykit.overrides import exit_on_unknown_key  # noqa: E402
from studykit.run_summary import final_metrics, write_json  # noqa: E402
from studykit.runtime import prepare_torch  # noqa: E402

log = logging.getLogger("eval")


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    with reported_as_one_line(output_dir):
        prepare_torch(cfg.threads)
        run_cfg = OmegaConf.create(read_run_config(cfg.ckpt_path))
        run_cfg.data.data_dir = cfg.paths.data_dir
        datamodule, classifier = build_classifier(run_cfg)
        loggers = [build("logger", node) for node in cfg.logger.values()]
        trainer = build("trainer", cfg.trainer, callbacks=[ConfusionImages(str(output_dir))], logger=loggers)
        trainer.test(classifier, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True, verbose=False)
        summary = final_metrics(trainer) | {"ckpt_path": str(Path(cfg.ckpt_path).resolve())}
        if trainer.is_global_zero:
            write_json(output_dir / "metrics.json", summary)
        log.info(" ".join(f"{split}_acc={summary[f'{split}_acc']:.4f}" for split in ("train", "val", "test")))
        return summary["test_acc"]


if __name__ == "__main__":
    exit_on_unknown_key("eval")
    main()
