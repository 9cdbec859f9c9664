"""A run as one MLflow run (`logger=mlflow`; beside TensorBoard: `logger=[tensorboard,mlflow]`): its settings as
params, its per-epoch curves (`EpochHistory` logs them to every logger), its final results as metrics, its
status (Lightning ends the MLflow run as finished or failed), and its files as artifacts. The tracking store is
`mlflow.db` in the log dir, with artifacts beside it, unless `tracking_uri` names a server (`make mlflow-ui`
serves the local one)."""

import logging
from pathlib import Path

from lightning.pytorch.loggers import MLFlowLogger

from studykit.errors import ConfigError

ARTIFACTS = ("config.yaml", "metrics.json", "history.csv", "confusion_*.png")


class MLflowLogger(MLFlowLogger):
    def __init__(self, run_dir: str, experiment_name: str, tracking_uri: str, artifact_dir: str):
        """`run_dir`: the run's dir (its name names the MLflow run); `artifact_dir`: where a local store keeps
        artifacts (a server keeps its own)."""
        try:
            import mlflow
        except ImportError:
            accepted = "MLflow is not installed: pip install -e '.[mlflow]'"
            raise ConfigError("tracking_uri", tracking_uri, accepted) from None
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its store's set-up lines are not the run's
        local = not tracking_uri.startswith(("http://", "https://", "databricks"))
        artifact_location = Path(artifact_dir).resolve().as_uri() if local else None
        # Made here rather than by Lightning's logger, which warns that it was missing: a store unreachable or
        # refusing is then met before training.
        client = mlflow.MlflowClient(tracking_uri)
        if client.get_experiment_by_name(experiment_name) is None:
            client.create_experiment(experiment_name, artifact_location=artifact_location)
        super().__init__(
            experiment_name=experiment_name,
            run_name=Path(run_dir).name,
            tracking_uri=tracking_uri,
            artifact_location=artifact_location,
        )
        self.run_dir = Path(run_dir)

    def record(self, results: dict) -> None:
        """The tested run's results (metrics) and its files as artifacts."""
        self.log_metrics({name: float(value) for name, value in results.items()})
        for pattern in ARTIFACTS:
            for path in sorted(self.run_dir.glob(pattern)):
                self.experiment.log_artifact(self.run_id, str(path))

    def fail(self) -> None:
        """The MLflow run ends as failed (Lightning's own end marks only failures inside fitting and testing)."""
        self.finalize("failed")
