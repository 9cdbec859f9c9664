"""`logger=mlflow`: each run one MLflow run (its settings, per-epoch curves, results, status and files), checked
through a real `mlflow server` on a loopback port (its REST API) and in the default store, a SQLite file in the
log dir; without MLflow installed, one line before anything runs."""

import sys
from pathlib import Path

import pytest

from conftest import read_json, run_script
from screenshots import LoopbackServer
from studykit.config.build import build_trainer
from studykit.config.compose import compose_run
from studykit.errors import ConfigError
from studykit.outputs.metrics import read_history

LOGGERS = ["logger=[tensorboard,mlflow]", "trainer.max_epochs=3"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", "{port}"]
    command += ["--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--artifacts-destination", str(root / "files")]
    with LoopbackServer(command, ready="/health") as running:
        yield running


@pytest.mark.slow
def test_each_job_of_a_sweep_is_one_mlflow_run_on_a_server(server, tmp_path):
    sweep = tmp_path / "sweep"
    grid = ["-m", "model.hidden=10,40", f"hydra.sweep.dir={sweep}", f"logger.mlflow.tracking_uri={server.url}"]
    result = run_script("train.py", *grid, *LOGGERS, "logger.mlflow.experiment_name=grid", log_dir=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    experiment = server.get("/api/2.0/mlflow/experiments/get-by-name", experiment_name="grid")["experiment"]
    runs = server.post("/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert sorted(run["info"]["run_name"] for run in runs) == ["0_hidden=10", "1_hidden=40"]
    for run in runs:
        job = sweep / run["info"]["run_name"]
        assert run["info"]["status"] == "FINISHED"
        params = {param["key"]: param["value"] for param in run["data"]["params"]}
        assert params["model.hidden"] == job.name.split("=")[1] and params["optimizer"] == "adam"
        metrics = {metric["key"]: metric["value"] for metric in run["data"]["metrics"]}
        written = read_json(job / "metrics.json")
        assert all(metrics[name] == written[name] for name in ("test_acc", "val_loss", "epochs"))
        run_id = run["info"]["run_id"]
        history = server.get("/api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key="by_epoch/val_loss")
        curve = sorted((point["step"], point["value"]) for point in history["metrics"])
        assert curve == [(int(row["epoch"]), float(row["val_loss"])) for row in read_history(job / "history.csv")]
        files = {item["path"] for item in server.get("/api/2.0/mlflow/artifacts/list", run_id=run_id)["files"]}
        assert {"confusion_test.png", "metrics.json", "history.csv", "config.yaml"} <= files


@pytest.mark.slow
def test_a_failed_run_is_a_failed_mlflow_run_with_its_settings(server, tmp_path):
    uri = f"logger.mlflow.tracking_uri={server.url}"
    diverging = ["optimizer=sgd", "optimizer.lr=1e9", "logger.mlflow.experiment_name=failing", uri]
    result = run_script("train.py", *LOGGERS, *diverging, log_dir=tmp_path)
    assert result.returncode == 2 and "the training loss is nan" in result.stdout + result.stderr
    experiment = server.get("/api/2.0/mlflow/experiments/get-by-name", experiment_name="failing")["experiment"]
    (run,) = server.post("/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert run["info"]["status"] == "FAILED"
    assert {param["key"]: param["value"] for param in run["data"]["params"]}["optimizer.lr"] == "1000000000.0"


@pytest.mark.slow
def test_the_default_store_is_a_sqlite_file_in_the_log_dir(tmp_path):
    import mlflow

    result = run_script("train.py", "logger=mlflow", "trainer.max_epochs=2", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mlflow" not in (result.stdout + result.stderr).lower()  # the store's set-up lines stay out
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("studykit").experiment_id])
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert run.data.metrics["test_acc"] == read_json(run_dir / "metrics.json")["test_acc"]
    assert (tmp_path / "mlflow-artifacts" / run.info.run_id / "artifacts" / "confusion_test.png").is_file()


def test_without_mlflow_installed_the_logger_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if the extra were not installed: importing it fails
    cfg = compose_run("train", ["logger=mlflow", f"paths.log_dir={tmp_path}"], tmp_path / "run")
    with pytest.raises(ConfigError) as error:
        build_trainer(cfg)
    assert error.value.key == "logger.mlflow.tracking_uri"
    assert str(error.value).endswith("MLflow is not installed: pip install -e '.[mlflow]'")
