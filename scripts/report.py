"""Write the report of a multirun: report.md, report.html, summary.csv, figures and a TensorBoard summary.

    python scripts/report.py                                   # the newest sweep under logs/multirun/
    python scripts/report.py logs/multirun/<sweep>             # or: make report SWEEP=logs/multirun/<sweep>

A multirun writes its report by itself when it ends (report=true); this script (re)writes it, e.g. for a
sweep that was interrupted or whose jobs ran elsewhere.
"""

import argparse
import os
import sys
from pathlib import Path

from studykit.config.compose import PROJECT_ROOT
from studykit.report.write import write_report
from studykit.run.files import OutputError


def newest_sweep() -> Path:
    sweeps = sorted((Path(os.environ.get("LOG_DIR", PROJECT_ROOT / "logs")) / "multirun").glob("*/"))
    if not sweeps:
        sys.exit("error: no sweep under logs/multirun/; name one: python scripts/report.py <sweep dir>")
    return sweeps[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, nargs="?", help="a multirun's directory (default: the newest)")
    args = parser.parse_args()
    sweep = args.sweep or newest_sweep()
    if not sweep.is_dir():
        sys.exit(f"error: sweep={sweep} is not a directory")
    try:
        print(write_report(sweep))
    except (FileNotFoundError, OutputError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
