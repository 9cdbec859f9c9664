"""A run as one Weights & Biases run (`logger=wandb`; beside TensorBoard: `logger=[tensorboard,wandb]`), offline by
default so nothing leaves the machine: its settings as config, its per-epoch curves (`EpochHistory` logs them to
every logger), its final results in the summary, its confusion matrices as images, and its exit status. The
offline run lies in the run dir's `wandb/`; `wandb sync <run dir>/wandb/offline-run-*` uploads it later."""

from pathlib import Path

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger

from studykit.errors import ConfigError
from studykit.lightning_internals import without_anonymous_setting


class WandbLogger(LightningWandbLogger):
    def __init__(self, run_dir: str, project: str, offline: bool = True):
        """`run_dir`: the run's dir (its name names the W&B run, its `wandb/` holds it)."""
        try:
            import wandb
        except ImportError:
            raise ConfigError("offline", offline, "W&B is not installed: pip install -e '.[wandb]'") from None
        super().__init__(
            name=Path(run_dir).name,
            save_dir=run_dir,
            project=project,
            offline=offline,
            reinit="create_new",  # each run of a sweep a W&B run of its own, in one process one after another
            settings=wandb.Settings(silent=True),  # its summary block is not the run's line (README: wandb sync)
        )
        without_anonymous_setting(self)
        self.run_dir = Path(run_dir)

    def record(self, results: dict) -> None:
        """The tested run's results (summary) and confusion matrices (images); the W&B run then ends."""
        self.experiment.summary.update(results)
        for path in sorted(self.run_dir.glob("confusion_*.png")):
            self.log_image(f"confusion/{path.stem.removeprefix('confusion_')}", [str(path)])
        self.experiment.finish()

    def fail(self) -> None:
        """The W&B run ends as failed (exit code 1)."""
        if self._experiment is not None:
            self.experiment.finish(exit_code=1)
