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

import sys

from studykit.ddp_ranks import announce_job, rank_command_line
from studykit.preflight import check_command_line

if __name__ == "__main__":
    sys.argv = rank_command_line(sys.argv)
    check_command_line("train")  # in about a second: importing torch and Lightning below takes several

import functools
import logging
from pathlib import Path

import hydra
import lightning
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from studykit import files, locks
from studykit.callbacks.epoch_history import fit_timer
from studykit.callbacks.optuna_pruning import pruned_at_epoch
from studykit.checkpoints import clear_previous_attempt, resume_path
from studykit.config import build, build_classifier
from studykit.config_values import check_values
from studykit.failures import reported_as_one_line
from studykit.job_names import register_resolvers
from studykit.quiet import quiet_lightning
from studykit.results import METRICS_FILE, RESULTS, read_metrics
from studykit.run_summary import final_metrics, hardware, parameter_count, settings, trial_name
from studykit.runtime import choose_threads, forward_flops, prepare_torch, set_threads
from studykit.tensorboard import write_session

log = logging.getLogger("train")
register_resolvers()


def train(cfg: DictConfig) -> dict | None:
    """Fit, test the best checkpoint, write metrics.json; returns its content (None if the run failed)."""
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    writer = locks.process_rank() == 0  # under DDP the other ranks' processes write nothing of their own
    run_settings = settings(cfg, dict(hydra_cfg.runtime.choices), list(hydra_cfg.overrides.task))
    trial = trial_name(output_dir, list(hydra_cfg.overrides.task), hydra_cfg.mode == RunMode.MULTIRUN)
    failed_session = functools.partial(write_session, output_dir, trial, run_settings, failed=True)
    with reported_as_one_line(output_dir, on_failure=failed_session), locks.held(output_dir, "the run dir"):
        if writer:
            files.remove_partial_files(output_dir)
        check_values(cfg, hydra_cfg.job.config_name, hydra_cfg.overrides.task)
        try:
            summary = read_metrics(output_dir / METRICS_FILE)
            log.info(f"{output_dir} has finished already; keeping its results (delete its metrics.json to train again)")
            return summary
        except FileNotFoundError:
            pass
        except ValueError as reason:
            log.warning(f"warning: {output_dir}: {reason}; training this run again")
        if writer:
            files.write_text(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        prepare_torch()
        quiet_lightning(cfg.verbose)
        lightning.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule, classifier = build_classifier(cfg)
        split_sizes = datamodule.split_sizes()
        callbacks = [build(f"callbacks.{name}", node) for name, node in cfg.callbacks.items()]
        ckpt_path = resume_path(cfg.ckpt_path, output_dir, cfg)
        if ckpt_path == str(output_dir / "checkpoints" / "last.ckpt"):
            clear_previous_attempt(output_dir)
        loggers = [build(f"logger.{name}", node) for name, node in cfg.logger.items()]
        trainer = build("trainer", cfg.trainer, callbacks=callbacks, logger=loggers)
        example, _ = datamodule.transform(tuple(tensor[:1] for tensor in datamodule.splits["train"]), training=False)
        flops = forward_flops(classifier.network, example) * cfg.data.batch_size
        processes = trainer.num_devices if trainer.strategy.root_device.type == "cpu" else 1
        set_threads(cfg.threads or choose_threads(flops, hydra_cfg.launcher, processes))

        params = parameter_count(classifier.network)
        choices = hydra_cfg.runtime.choices
        sizes = ", ".join(f"{size} {split}" for split, size in split_sizes.items())
        log.info(
            f"{choices.model} ({params:,} parameters) on {choices.data} ({sizes}), "
            f"{torch.get_num_threads()} torch thread(s); run dir {output_dir}"
        )
        if ckpt_path:
            log.info(f"continuing from {ckpt_path}")
        if hydra_cfg.mode == RunMode.MULTIRUN:
            announce_job(list(hydra_cfg.overrides.task), output_dir)
        trainer.fit(classifier, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        checkpoints = trainer.checkpoint_callback
        epochs, seconds = trainer.current_epoch, fit_timer(trainer).time_elapsed("train")
        best = str(checkpoints.best_path)
        trainer.test(classifier, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)

        summary = (
            final_metrics(trainer)
            | {
                "epochs": epochs,
                "best_epoch": checkpoints.best_epoch,
                "train_seconds": round(seconds, 4),
                "params": params,
                "hardware": hardware(trainer),
                "overrides": list(hydra_cfg.overrides.task),
            }
            | pruned_at_epoch(trainer)
        )
        if trainer.is_global_zero:
            write_session(output_dir, trial, run_settings | {key: summary[key] for key in RESULTS})
            files.write_json(output_dir / METRICS_FILE, summary)
        log.info(
            f"val_acc {summary['val_acc']:.4f}, test_acc {summary['test_acc']:.4f}, test_loss "
            f"{summary['test_loss']:.4f} (best epoch {summary['best_epoch']} of {epochs}, {seconds:.2f} s of "
            f"training); results in {output_dir}"
        )
        return summary


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> dict | None:
    """The run's metrics.json (what a search's sweeper reads), None if it failed."""
    return train(cfg)


if __name__ == "__main__":
    main()
