"""The template's speed against minimal hand-written loops (scripts/hand_loops.py), side by side in one run.

    python scripts/benchmark_speed.py [--data-dir DIR] [--only study_a,digits,...] [--rounds 2]

DIR holds optdigits/ and mnist/ as in the project's data/ (default: $DATA_DIR, else data/); caches go to a
temporary copy. Both sides do the same work: the same data and splits, network, initial weights, batch order,
optimizer, batch size, early stopping and thread count. Rows:

  study_a     the whole command `src/train.py -m experiment=digits_cases hydra.sweeper.params.seed=0` (six runs,
              all 5620 UCI digits, batch 32, early stopping with patience 20, the best weights tested, every file,
              figure and the sweep report) against `scripts/hand_loops.py digits-cases` (the same six runs in one
              process, printing the test accuracies): wall time of each command, in alternating rounds
  digits      seconds per epoch (training + validation) of the digits MLP 2 x 40 ReLU, batch 32, bundled digits,
              the template on autograd's step (classifier.step=autograd): what the framework adds to the same work
  digits_uci  the same MLP on all 5620 UCI digits (3372 training samples), one run alone with the template's
              default step (its gradients written out, studykit.steps.written_step)
  mnist_mlp   seconds per epoch of the MNIST MLP 784-128-128-10, batch 32, against the faster of the hand loop
              on 1 and on 2 threads
  mnist_cnn   seconds per epoch of the studies' net_1 on MNIST, batch 32; each epoch cut to its first
              --cnn-batches training batches (the whole validation split)
  shared_cpu  the digits row (autograd's step) with one busy process beside both sides
  startup     seconds from the command to the first training step: the default digits run against study A's
              hand-written script, in alternating rounds; beside them, `python -c "import torch, lightning, hydra"`
              and the template's steps timed one by one (scripts/startup_phases.py)

Per-epoch rows run a real `src/train.py` run with a probe callback (`PairedEpochs`) that trains one epoch of the
hand-written loop right after each epoch of the template, in the same process: this VM's speed wanders by up to
2x for seconds at a time, and neighbouring epochs meet it alike where separate runs do not. Each template epoch
is divided by the mean of the two hand epochs around it (before and after: a drift in the machine's speed
weighs on both sides alike); the row gives the median of these ratios and their quartiles, and the median
epoch of each side (the first epoch of each side, warm-up, left out).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from lightning import Callback

import hand_loops
from studykit.config.compose import PROJECT_ROOT, compose_run
from studykit.data.mnist import MNISTDataModule
from studykit.models.convnet import ConvNet
from train import train

PYTHON = sys.executable
WORK = ("study_a", "digits", "digits_uci", "mnist_mlp", "mnist_cnn", "shared_cpu", "startup")


def hand_loop(work: str, data_dir: str | None, limit_batches: int | None) -> hand_loops.HandLoop:
    """The hand-written loop for `work`, on the same splits and network as the template's run of it."""
    if work in ("digits", "digits_uci"):
        source = Path(data_dir) if work == "digits_uci" else None
        return hand_loops.HandLoop(hand_loops.mlp(64, 40, 2, "relu"), hand_loops.digits_splits(source, seed=0))
    splits = MNISTDataModule(data_dir=data_dir, download=False).load_splits()
    network = hand_loops.mlp(784, 128, 2, "relu") if work == "mnist_mlp" else ConvNet((1, 28, 28), 10)
    return hand_loops.HandLoop(network, splits, prepare=hand_loops.scale, eval_batch=2048, limit_batches=limit_batches)


class PairedEpochs(Callback):
    """Benchmark probe: after each epoch of the template, one epoch of the hand-written loop (one per thread
    count in `threads`; default: the template's), timed apart; the durations go to the JSON file `out`."""

    def __init__(self, work: str, out: str, data_dir: str | None = None, threads=None, limit_batches=None):
        self.work, self.out, self.data_dir, self.limit_batches = work, Path(out), data_dir, limit_batches
        self.threads = list(threads) if threads else None
        self.template: list[float] = []
        self._start = self._beside = 0.0

    def on_fit_start(self, trainer, pl_module):
        self.template_threads = torch.get_num_threads()
        with torch.random.fork_rng():  # leave the template's random stream alone
            torch.manual_seed(0)
            self.loops = {
                count: hand_loop(self.work, self.data_dir, self.limit_batches)
                for count in self.threads or [self.template_threads]
            }
        self.hand: dict[int, list[float]] = {count: [] for count in self.loops}

    def on_train_epoch_start(self, trainer, pl_module):
        now = time.perf_counter()
        if self._start:
            self.template.append(now - self._start - self._beside)
        self._start, self._beside = now, 0.0

    def on_train_epoch_end(self, trainer, pl_module):
        for count, loop in self.loops.items():
            torch.set_num_threads(count)
            start = time.perf_counter()
            loop.epoch()
            self.hand[count].append(time.perf_counter() - start)
            self._beside += self.hand[count][-1]
        torch.set_num_threads(self.template_threads)

    def on_fit_end(self, trainer, pl_module):
        result = {"template": self.template, "template_threads": self.template_threads, "hand": self.hand}
        self.out.write_text(json.dumps(result))


def paired(work: str, log_dir: Path, overrides: list[str], epochs: int, **probe) -> dict:
    """A real src/train.py run of `overrides` with the `PairedEpochs` probe; the durations it recorded."""
    out = Path(tempfile.mkstemp(dir=log_dir, suffix=".json")[1])
    settings = [f"+callbacks.paired.{key}={value}" for key, value in probe.items() if value is not None]
    settings += ["+callbacks.paired._target_=benchmark_speed.PairedEpochs", f"+callbacks.paired.work={work}"]
    settings += [f"+callbacks.paired.out={out}", "callbacks.early_stopping.patience=100000"]
    settings += ["callbacks.progress_bar.enabled=false"]  # the hand loop prints nothing either; rows stay readable
    run_dir = Path(tempfile.mkdtemp(dir=log_dir))
    train(
        compose_run(
            "train", [*overrides, *settings, f"trainer.max_epochs={epochs}", f"paths.log_dir={log_dir}"], run_dir
        )
    )
    return json.loads(out.read_text())


def duration(seconds: float) -> str:
    return f"{seconds:.4g} s" if seconds >= 1 else f"{seconds * 1000:.4g} ms"


def bracketed_ratios(template: list[float], hand: list[float]) -> list[float]:
    """template[i] / mean(hand[i - 1], hand[i]) for template epochs i >= 2: the hand epochs run right before and
    right after template epoch i (epoch 0 of both sides is warm-up)."""
    return [template[i] / ((hand[i - 1] + hand[i]) / 2) for i in range(2, len(template))]


def epoch_row(name: str, durations: dict) -> str:
    template = statistics.median(durations["template"][1:])
    hands = {count: statistics.median(values[1:]) for count, values in durations["hand"].items()}
    faster = min(hands, key=hands.get)
    threads = ", ".join(f"{duration(value)} ({count} thread(s))" for count, value in hands.items())
    ratios = bracketed_ratios(durations["template"], durations["hand"][faster])
    low, _, high = statistics.quantiles(ratios, n=4)
    template_cell = f"{duration(template)} ({durations['template_threads']} thread(s))"
    spread = f"quartiles {low:.2f}-{high:.2f} over {len(ratios)} epochs"
    return f"| {name} | {template_cell} | {threads} | **{statistics.median(ratios):.2f}** ({spread}) |"


def wall_seconds(command: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=os.environ | env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - start, result.stdout + result.stderr


def rounds(values: list[float]) -> str:
    return ", ".join(f"{value:.3g}" for value in values)


def command_row(name: str, template: list[float], hand: list[float]) -> str:
    t, h = statistics.median(template), statistics.median(hand)
    return f"| {name} | {t:.3g} s ({rounds(template)}) | {h:.3g} s ({rounds(hand)}) | **{t / h:.2f}** |"


@contextmanager
def busy_process():
    process = subprocess.Popen([PYTHON, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        process.kill()
        process.wait()


def study_a(data_dir: Path, log_dir: Path, rounds: int) -> str:
    template_command = [PYTHON, "src/train.py", "-m", "experiment=digits_cases", "hydra.sweeper.params.seed=0"]
    hand_command = [PYTHON, "scripts/hand_loops.py", "digits-cases", "--seeds", "0"]
    env = {"DATA_DIR": str(data_dir), "LOG_DIR": str(log_dir)}
    template, hand = [], []
    for _ in range(rounds):
        hand.append(wall_seconds(hand_command, env)[0])
        template.append(wall_seconds(template_command, env)[0])
    return command_row("study A, the whole command", template, hand)


def startup(log_dir: Path, data_dir: Path, rounds: int) -> str:
    """Seconds from starting each command to its first training step."""
    env = {"LOG_DIR": str(log_dir), "DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT_ROOT / "scripts")}
    probe = "+callbacks.first_step._target_=benchmark_speed.FirstStep"
    commands = {
        "template": [PYTHON, "src/train.py", "trainer.max_epochs=1", probe],
        "hand": [PYTHON, "scripts/hand_loops.py", "digits-cases", "--startup"],
    }
    times: dict[str, list[float]] = {"template": [], "hand": [], "imports": []}
    phases: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, command in commands.items():
            started = time.time()
            _, output = wall_seconds(command, env)
            first = re.search(r"first training step at ([0-9.]+)", output)
            times[name].append(float(first.group(1)) - started)
        times["imports"].append(wall_seconds([PYTHON, "-c", "import torch, lightning, hydra"], env)[0])
        _, output = wall_seconds([PYTHON, "scripts/startup_phases.py", "--launched", f"{time.time():.3f}"], env)
        for seconds, phase in re.findall(r"^([0-9.]+) (.+)$", output, re.MULTILINE):
            phases.setdefault(phase, []).append(float(seconds))
    imports = statistics.median(times["imports"])
    steps = ", ".join(f"{phase} {statistics.median(seconds):.2f} s" for phase, seconds in phases.items())
    return command_row("start-up to the first training step", times["template"], times["hand"]) + (
        f'\n\n`python -c "import torch, lightning, hydra"` alone: {imports:.3g} s. The template\'s steps to its'
        f" first training step, timed one by one in one process (scripts/startup_phases.py, medians): {steps}"
    )


class FirstStep(Callback):
    """Prints the wall-clock time of the first training step (the startup row adds it to a run)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == 0:
            print(f"first training step at {time.time():.3f}", flush=True)


def linked_data(source: Path, into: Path) -> Path:
    """A data dir whose data sets link to `source`'s files, so caches are written into `into`."""
    for name in ("optdigits", "mnist"):
        if (source / name).is_dir():
            (into / name).mkdir(parents=True)
            for file in (source / name).iterdir():
                if file.is_file():
                    (into / name / file.name).symlink_to(file.resolve())
    return into


def report(line: str) -> None:
    """One finished row, printed at once (a full run takes a quarter of an hour)."""
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", PROJECT_ROOT / "data")))
    parser.add_argument("--rounds", type=int, default=2, help="of the whole-command rows")
    parser.add_argument("--cnn-batches", type=int, default=100)
    parser.add_argument("--only", default=",".join(WORK), help=f"comma-separated, of: {', '.join(WORK)}")
    args = parser.parse_args()
    chosen = args.only.split(",")
    report(f"{os.cpu_count()} cores, torch {torch.__version__}\n")
    report("| work | template | hand-written loop | ratio template / hand |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        data_dir = linked_data(args.data_dir.resolve(), scratch / "data")
        log_dir = scratch / "logs"
        log_dir.mkdir()
        digits = ["model.hidden=40", "model.depth=2", "model.act=relu"]
        autograd = [*digits, "classifier.step=autograd"]
        mnist = ["data=mnist", f"paths.data_dir={data_dir}", "trainer.limit_test_batches=1"]
        if "study_a" in chosen:
            report(study_a(data_dir, log_dir, args.rounds))
        if "digits" in chosen:
            report(epoch_row("digits 2x40, autograd step, per epoch", paired("digits", log_dir, autograd, epochs=150)))
        if "digits_uci" in chosen:
            uci = [*digits, "data.source=uci", f"paths.data_dir={data_dir}"]
            durations = paired("digits_uci", log_dir, uci, epochs=60, data_dir=data_dir)
            report(epoch_row("UCI digits 2x40 run alone, written-out step, per epoch", durations))
        if "mnist_mlp" in chosen:
            mlp = [*mnist, "model.hidden=128", "model.depth=2"]
            durations = paired("mnist_mlp", log_dir, mlp, epochs=12, data_dir=data_dir, threads="[1,2]")
            report(epoch_row("MNIST MLP, per epoch", durations))
        if "mnist_cnn" in chosen:
            cnn = [*mnist, "model=convnet", f"trainer.limit_train_batches={args.cnn_batches}"]
            durations = paired("mnist_cnn", log_dir, cnn, epochs=10, data_dir=data_dir, limit_batches=args.cnn_batches)
            report(epoch_row(f"MNIST net_1, per epoch of {args.cnn_batches} batches", durations))
        if "shared_cpu" in chosen:
            with busy_process():
                durations = paired("digits", log_dir, autograd, epochs=150)
            report(epoch_row("digits 2x40, autograd step, beside a busy process, per epoch", durations))
        if "startup" in chosen:
            report(startup(log_dir, data_dir, args.rounds))


if __name__ == "__main__":
    main()
