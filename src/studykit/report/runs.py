"""Reads a sweep directory: one record per job, from the files the job wrote (finished or not)."""

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from studykit.outputs.metrics import HISTORY_FILE, METRICS_FILE, read_history, read_metrics
from studykit.outputs.settings import NOT_SETTINGS
from studykit.run.failures import FAILURE_FILE
from studykit.run.job_names import job_number


@dataclass
class Run:
    directory: Path
    settings: dict[str, str]
    metrics: dict = field(default_factory=dict)
    error: str = ""
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return not self.error

    @property
    def pruned(self) -> bool:
        """Stopped early by an Optuna search's pruner (its best checkpoint was still tested)."""
        return bool(self.metrics.get("pruned_at_epoch"))

    @property
    def status(self) -> str:
        if not self.finished:
            return "failed"
        return f"pruned at epoch {self.metrics['pruned_at_epoch']}" if self.pruned else "finished"

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def number(self) -> int:
        return job_number(self.name)


def job_directories(sweep_dir: Path) -> list[Path]:
    """The job dirs of a Hydra sweep (each holds `.hydra/overrides.yaml`), in job-number order."""
    jobs = [path.parent.parent for path in sweep_dir.glob("*/.hydra/overrides.yaml")]
    return sorted(jobs, key=lambda path: (job_number(path.name), path.name))


def read_run(directory: Path) -> Run:
    overrides = OmegaConf.to_container(OmegaConf.load(directory / ".hydra" / "overrides.yaml"))
    settings = dict(item.split("=", 1) for item in overrides if "=" in item)
    # The experiment is the same for every job of a sweep: it names the sweep, not a variant.
    settings = {key: value for key, value in settings.items() if not key.startswith((*NOT_SETTINGS, "experiment"))}
    run = Run(directory, settings)
    failure = directory / FAILURE_FILE
    if failure.exists():
        run.error = failure.read_text().strip()
    else:
        try:
            run.metrics = read_metrics(directory / METRICS_FILE)
        except FileNotFoundError:
            run.error = "unfinished: no metrics.json (still running, killed, or crashed)"
        except ValueError as error:
            run.error = str(error)
    run.history = read_history(directory / HISTORY_FILE)
    return run


def varying_keys(runs: list[Run]) -> list[str]:
    """The overridden keys whose values differ between runs, in the order they were given."""
    keys: list[str] = []
    for run in runs:
        keys += [key for key in run.settings if key not in keys]
    return [key for key in keys if len({run.settings.get(key) for run in runs}) > 1]


def ranked(runs: list[Run]) -> list[Run]:
    """Finished runs by validation accuracy (ties: lower validation loss first), then the pruned ones so, then
    the others."""

    def by_validation(run: Run) -> tuple[float, float]:
        return -run.metrics["val_acc"], run.metrics["val_loss"]

    finished = sorted((run for run in runs if run.finished and not run.pruned), key=by_validation)
    pruned = sorted((run for run in runs if run.pruned), key=by_validation)
    return finished + pruned + [run for run in runs if not run.finished]
