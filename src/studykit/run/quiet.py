"""Keep the terminal to a run's own lines (`verbose=false`): Lightning's informational lines (devices found,
tips, `Trainer(limit_*_batches=1.0)` configured, checkpoints restored, why fit stopped) and the warnings this
template's design sets off on purpose. Every other warning still reaches the user."""

import logging
import warnings

LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")
EXPECTED_WARNINGS = (
    # Classifier.training_step takes the batch iterator to train several batches per Lightning step.
    r"You are using the `dataloader_iter` step flavor",
    r"Found `dataloader_iter` argument in the `training_step`",
    # A machine with SLURM's client (a cluster's login node): runs there are started by the user or by the SLURM
    # launcher (hydra/launcher=slurm submits them through sbatch), not meant for srun.
    r"The `srun` command is available on your system but is not used",
    # Lightning's own use of a torch API that newer torch deprecates; nothing a user can change.
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)


def quiet_lightning(verbose: bool) -> None:
    """With `verbose`, Lightning's lines also go through this run's logging (terminal and <job>.log)."""
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()  # Lightning's own stderr handler, added at import before Hydra configured logging
        logger.propagate = True
        logger.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        for message in EXPECTED_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
