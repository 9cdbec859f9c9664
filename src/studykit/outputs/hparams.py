"""A run's entry in TensorBoard's HParams view, and the TensorBoard logger runs use.

Each run records one HParams *session* in its `hparams/` subdir: the usual settings (data, model, optimizer,
lr, batch size, seed), every setting its command line changed, its final results (those of metrics.json) and
whether it succeeded or failed. No run writes an HParams *experiment*: TensorBoard then builds one table from
all sessions under its log dir (the columns that differ between runs first), where an experiment written by
one run would define the columns for all runs. The session lives beside the run's curves rather than above
them, so TensorBoard takes no curve's last value for a result.
"""

import time
from pathlib import Path

from lightning.fabric.loggers import TensorBoardLogger as FabricTensorBoardLogger
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionEndInfo, SessionStartInfo
from tensorboard.summary.writer.event_file_writer import EventFileWriter

SESSION_DIR = "hparams"


def write_session(run_dir: Path, name: str, values: dict, failed: bool = False) -> None:
    """The run's HParams row, replacing any an earlier attempt of the same run wrote. `name`: what the view
    calls it (its "trial"); `values`: setting or result name -> number, string or bool."""
    directory = Path(run_dir) / SESSION_DIR
    for old in directory.glob("events.out.tfevents.*"):
        old.unlink()
    start = SessionStartInfo(start_time_secs=time.time(), group_name=name)
    for name, value in values.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            start.hparams[name].number_value = value
        elif value is not None:
            start.hparams[name].string_value = str(value)
    end = SessionEndInfo(status=api_pb2.STATUS_FAILURE if failed else api_pb2.STATUS_SUCCESS, end_time_secs=time.time())
    writer = EventFileWriter(str(directory))
    for tag, content in (
        (metadata.SESSION_START_INFO_TAG, HParamsPluginData(session_start_info=start)),
        (metadata.SESSION_END_INFO_TAG, HParamsPluginData(session_end_info=end)),
    ):
        value = Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(content), tensor=metadata.NULL_TENSOR)
        writer.add_event(Event(wall_time=time.time(), summary=Summary(value=[value])))
    writer.close()


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's, without the hparams.yaml it writes into every run dir (empty here: a run's settings are in
    its config.yaml and its HParams entry is `write_session`'s)."""

    @rank_zero_only
    def save(self) -> None:
        FabricTensorBoardLogger.save(self)  # flushes the events; Lightning's own save adds hparams.yaml
