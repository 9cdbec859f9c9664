"""Fetch and cache data sets ahead of training (e.g. on a login node with internet, before offline jobs).

    python scripts/prepare_data.py                   # every data set read from files (or: make data)
    DATA_DIR=/scratch/data python scripts/prepare_data.py mnist

Each named config of configs/data/ (without names: each that has a data_dir) is loaded once as a run would load
it: files found in the data dir are used, missing ones downloaded, and the processed tensors cached, so later runs
start at once. Prints each data set's split sizes and how long loading took (run it twice to see the cached start).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from studykit.config.build import build
from studykit.config.compose import CONFIGS, compose_run
from studykit.errors import ConfigError, DataError


def main() -> None:
    choices = sorted(path.stem for path in (CONFIGS / "data").glob("*.yaml"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", choices=choices)
    args = parser.parse_args()
    from_files = [name for name in choices if "data_dir" in OmegaConf.load(CONFIGS / "data" / f"{name}.yaml")]
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.datasets or from_files:
            cfg = compose_run("train", [f"data={name}"], Path(scratch))
            start = time.perf_counter()
            try:
                sizes = build("data", cfg.data).split_sizes()
            except (ConfigError, DataError) as error:
                sys.exit(f"error: {error}")
            seconds = time.perf_counter() - start
            print(f"{name}: {sizes} from {cfg.data.get('data_dir', 'memory')} in {seconds:.2f} s")


if __name__ == "__main__":
    main()
