"""Job dir names: the job number and the overrides that vary in its sweep, short (`3_hidden=40,act=tanh`), so
TensorBoard's run names and the report's labels tell the jobs apart. Safe for any value: characters that could
nest the dir (`/`) or trouble a shell or file system are percent-encoded, and long names are cut (with a hash of
the whole, so they stay distinct)."""

import hashlib
import os
from pathlib import Path
from urllib.parse import quote

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf

KEPT = "=,+@-._[]"  # besides letters and digits
LONGEST = 150  # characters; file systems allow 255 bytes
SWEPT_KEYS = "STUDYKIT_SWEPT_KEYS"  # environment variable: the sweep's varying keys, for jobs in any process


def safe_name(text: str) -> str:
    name = quote(str(text), safe=KEPT)
    if len(name) > LONGEST:
        name = f"{name[: LONGEST - 9]}~{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def job_dir(sweep_config: DictConfig) -> Path:
    """The dir Hydra's run_job gives a sweep's job (`hydra.job.num` set), from its composed config."""
    return Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)


def job_number(name: str) -> int:
    """The number Hydra gave a sweep's job, from its dir name (`3_hidden=40` -> 3); 0 for a name without one."""
    prefix = name.split("_")[0]
    return int(prefix) if prefix.isdigit() else 0


def job_name(number: int, overrides: ListConfig) -> str:
    """`<number>_<key>=<value>,...` for the overrides whose keys the sweep varies (all of them when that is not
    known), keys by their last part unless that would be ambiguous."""
    swept = [key for key in os.environ.get(SWEPT_KEYS, "").split(",") if key]
    pairs = [str(item).split("=", 1) for item in overrides if "=" in str(item)]
    chosen = [(key, value) for key, value in pairs if not swept or key.lstrip("+~") in swept]
    short = [key.lstrip("+~").split(".")[-1] for key, _ in chosen]
    names = short if len(set(short)) == len(short) else [key.lstrip("+~") for key, _ in chosen]
    values = [short_number(value) for _, value in chosen]
    return safe_name(f"{number}_" + ",".join(f"{name}={value}" for name, value in zip(names, values, strict=True)))


def short_number(text: str) -> str:
    """A number with more than 6 significant digits (a search's `0.004430375245218269`) to 4 (`0.00443`), for the
    eye; anything else as written. The job number keeps dirs apart where two values round alike."""
    if "." not in text:  # integers (seeds, widths) stay whole
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    digits = len(text.lstrip("+-0.").replace(".", "").lower().split("e")[0])
    return f"{number:.4g}" if digits > 6 else text


def swept_keys(config: DictConfig) -> list[str]:
    """The keys a multirun varies: sweeps on the command line (`model.hidden=10,40`) and in the sweeper's
    params (experiments, searches), in the order given."""
    parser = OverridesParser.create()
    task = parser.parse_overrides([str(item) for item in config.hydra.overrides.task])
    params = config.hydra.sweeper.get("params") or {}
    searched = parser.parse_overrides([f"{key}={value}" for key, value in params.items()])
    keys = [override.key_or_group for override in [*task, *searched] if override.is_sweep_override()]
    return list(dict.fromkeys(key.lstrip("+~") for key in keys))


class SweptKeys(Callback):
    """At the start of a multirun, tells every job (in this process or in launcher workers, which inherit the
    environment) which keys its sweep varies."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        os.environ[SWEPT_KEYS] = ",".join(swept_keys(config))


def register_resolvers() -> None:
    """`${job_name:...}` for configs/hydra/default.yaml; registered before Hydra resolves a job's dir."""
    OmegaConf.register_new_resolver("job_name", job_name, replace=True)
