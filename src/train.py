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

from studykit.config.command_line import check_command_line
from studykit.run.ranks import rank_command_line

if __name__ == "__main__":
    sys.argv = rank_command_line(sys.argv)
    check_command_line("train")  # in about a second: importing torch and Lightning below takes several

import hydra
import lightning
from omegaconf import DictConfig

from studykit.config.build import build_classifier, build_trainer, check_steps_reach_an_epoch
from studykit.config.values import check_values
from studykit.run.command_end import run_as_command
from studykit.run.job_names import register_resolvers
from studykit.run.quiet import quiet_lightning
from studykit.run.run_dir import RunDir, fit_results
from studykit.run.threads import prepare_torch, set_threads, threads_for_run

register_resolvers()


def train(cfg: DictConfig) -> dict | None:
    """Fit, test the best checkpoint, write metrics.json; returns its content (None if the run failed)."""
    run = RunDir(cfg)
    with run.owned():
        check_values(cfg, run.config_name, run.overrides)
        if (finished := run.finished_results()) is not None:
            return finished
        run.write_config(cfg)
        prepare_torch()
        quiet_lightning(cfg.verbose)
        lightning.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule, classifier = build_classifier(cfg)
        split_sizes = datamodule.split_sizes()
        check_steps_reach_an_epoch(cfg, split_sizes["train"])
        ckpt_path = run.checkpoint_to_continue(cfg)  # before the loggers: it clears a killed attempt's events
        trainer = build_trainer(cfg)
        run.log_settings(trainer)
        set_threads(cfg.threads or threads_for_run(classifier.network, datamodule, trainer, run.launcher))
        run.announce(classifier.network, split_sizes, ckpt_path)
        trainer.fit(classifier, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        fitted = fit_results(trainer)
        best = trainer.checkpoint_callback.best_model_path
        trainer.test(classifier, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)
        return run.record(trainer, classifier.network, fitted)


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def main(cfg: DictConfig) -> dict | None:
    """The run's metrics.json (what a search's sweeper reads), None if it failed."""
    return train(cfg)


if __name__ == "__main__":
    run_as_command(main)
