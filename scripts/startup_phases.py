"""Where a run's start-up goes: src/train.py's steps up to its first training step, each timed, in one fresh
process; `benchmark_speed.py --only startup` prints their medians beside the whole command's time.

    python scripts/startup_phases.py [--launched EPOCH_SECONDS] [OVERRIDES...]

The steps are train.py's own calls in its order (the checks made before torch is imported, the imports, the
config composed and checked, data and network, trainer, fit to its first step). What the real command adds is
Hydra's app around them (its argument parsing, run dir and job logging): the startup row's total less these.
"""

import sys
import time

STARTED = time.time()


class Clock:
    """Seconds per phase, each from the end of the one before."""

    def __init__(self, start: float):
        self.last, self.phases = start, {}

    def done(self, phase: str) -> None:
        now = time.time()
        self.phases[phase], self.last = now - self.last, now


class FirstStepReached(Exception):
    pass


def main() -> None:
    arguments = sys.argv[1:]
    clock = Clock(STARTED)
    if arguments[:1] == ["--launched"]:
        clock.phases["python itself"], arguments = STARTED - float(arguments[1]), arguments[2:]
    from pathlib import Path
    from tempfile import TemporaryDirectory

    sys.argv = ["train.py", *arguments]
    from studykit.config.command_line import check_command_line

    check_command_line("train")
    clock.done("command-line checks (importing Hydra, OmegaConf)")
    import torch  # noqa: F401

    clock.done("import torch")
    import lightning

    clock.done("import lightning (with torchmetrics, torchvision, scipy)")
    from omegaconf import OmegaConf

    from studykit.config.build import build_classifier, build_trainer
    from studykit.config.compose import compose_run
    from studykit.config.values import check_values
    from studykit.run.quiet import quiet_lightning
    from studykit.run.threads import prepare_torch, set_threads, threads_for_run

    clock.done("the template's modules")

    class FirstStep(lightning.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            raise FirstStepReached

    with TemporaryDirectory() as directory:
        cfg = compose_run("train", [*arguments, f"paths.log_dir={directory}"], Path(directory) / "run")
        check_values(cfg, "train", arguments)
        clock.done("config composed and checked")
        prepare_torch()
        quiet_lightning(cfg.verbose)
        lightning.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule, classifier = build_classifier(cfg)
        datamodule.split_sizes()
        clock.done("data and network")
        trainer = build_trainer(cfg)
        no_launcher = OmegaConf.create({})  # a single run's: all idle cores to share
        set_threads(cfg.threads or threads_for_run(classifier.network, datamodule, trainer, no_launcher))
        trainer.callbacks.append(FirstStep())
        clock.done("trainer")
        try:
            trainer.fit(classifier, datamodule=datamodule)
        except FirstStepReached:
            clock.done("fit to its first step")
    for phase, seconds in clock.phases.items():
        print(f"{seconds:.3f} {phase}")


if __name__ == "__main__":
    main()
