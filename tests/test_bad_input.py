"""Bad settings stop the run before training with one line naming the key, the value and what is accepted."""

import os

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from conftest import ROOT, run_script, train_in_process
from studykit.config.compose import compose_defaults
from studykit.config.values import RULES, check_values, default_kind
from studykit.errors import ConfigError

CASES = {
    "model.act=swish": "model.act='swish' is invalid: accepted: elu, gelu, leaky_relu, mish, relu, selu, sigmoid, "
    "silu, softplus, tanh",
    "model.hidden=0": "model.hidden=0 is invalid: must be an integer >= 1 (every hidden layer's width) or a list of "
    "them (one per layer)",
    "model.hidden=[8,0]": "model.hidden=[8, 0] is invalid: must be an integer >= 1 (every hidden layer's width) or "
    "a list of them (one per layer)",
    "trainer.max_epochs=0": "trainer.max_epochs=0 is invalid: must be an integer >= 1, or -1 for no limit",
    "trainer.limit_val_batches=0": "trainer.limit_val_batches=0 is invalid: must be a fraction in (0, 1] or a number "
    "of batches >= 1",
    "callbacks.early_stopping.patience=-1": "callbacks.early_stopping.patience=-1 is invalid: must be an integer >= 0",
    "seed=-1": "seed=-1 is invalid: must be an integer in [0, 2**32)",
    "model.depth=0": "model.depth=0 is invalid: must be an integer >= 1",
    "model.dropout=1.5": "model.dropout=1.5 is invalid: must be a number in [0, 1)",
    "data.val_fraction=1.5": "data.val_fraction=1.5 is invalid: must be a number strictly between 0 and 1",
    "data.test_fraction=0": "data.test_fraction=0 is invalid: must be a number strictly between 0 and 1",
    "data.source=kaggle": "data.source='kaggle' is invalid: accepted: sklearn, uci",
    "data.batch_size=0": "data.batch_size=0 is invalid: must be an integer >= 1",
    "data.device=cuda": "data.device='cuda' is invalid: no CUDA device is visible here; use cpu or auto",
    "data.device=tpu": "data.device='tpu' is invalid: accepted: auto, cpu, cuda",
    "model=convnet": "model='convnet' is invalid: ConvNet reads images, but data gives features of shape (64,)",
    "data=mnist model=convnet model.pooling=global": "model.pooling='global' is invalid: accepted: avg, max, none, "
    "stride",
    "data=mnist model=convnet model.pool_size=29": "model.pool_size=29 is invalid: pooling=max shrinks the 28x28 "
    "images to nothing; use a smaller pool_size",
    "data=imdb": "model='mlp' is invalid: MLP reads features or images, but data gives tokens of shape (500,)",
    "model.output_act=softmax": "model.output_act='softmax' is invalid: accepted: none, sigmoid",
    "classifier.step=compiled": "classifier.step='compiled' is invalid: accepted: auto, autograd",
    "optimizer.lr=-0.1": "optimizer.lr=-0.1 is invalid: must be a number > 0",
    "optimizer.lr=inf": "optimizer.lr=inf is invalid: must be a number > 0",
    "trainer.max_epochs=-1 trainer.max_steps=3": "trainer.max_steps=3 is invalid: it ends the run inside its first "
    "epoch (34 batches), so no epoch is validated and there is no best checkpoint to test; give at least 34, or "
    "trainer.limit_train_batches for shorter epochs",
    "threads=1000": f"threads=1000 is invalid: must be null (the thread rule) or an integer from 1 to {os.cpu_count()} "
    "(the cores here)",
    "optimizer=adadelta_keras optimizer.rho=2": "optimizer={'lr': 0.001, 'weight_decay': 0.0, "
    "'rho': 2, 'eps': 1e-07} is invalid: Invalid rho value: 2",
}


@pytest.mark.parametrize("override", list(CASES))
def test_one_clear_line_and_nothing_trained(override, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        train_in_process(run_dir, *override.split())
    assert stop.value.code == 2
    assert (run_dir / "failure.txt").read_text() == f"error: {CASES[override]}\n"
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.json").exists()


def test_fractions_that_leave_no_training_data(tmp_path):
    with pytest.raises(SystemExit):
        train_in_process(tmp_path / "run", "data.val_fraction=0.5", "data.test_fraction=0.5")
    assert "val_fraction + test_fraction must be < 1" in (tmp_path / "run" / "failure.txt").read_text()


# Group choices that between them give every key the train config can have
CHOICES = [
    [],
    ["data=mnist", "model=convnet", "optimizer=sgd"],
    ["data=imdb", "model=textcnn", "optimizer=adadelta"],
    ["data=cifar10", "optimizer=adagrad"],
    ["optimizer=rmsprop"],
    ["optimizer=adadelta_keras"],
    ["optimizer=adagrad_keras"],
    ["data=circles"],
]


def leaf_keys(node: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for name in node.keys():
        child = node._get_node(name)
        keys += leaf_keys(child, f"{prefix}{name}.") if isinstance(child, DictConfig) else [f"{prefix}{name}"]
    return keys


def every_key() -> dict[str, list[str]]:
    """Each leaf key of the composed train config, with the first group choices that have it."""
    keys: dict[str, list[str]] = {}
    for choices in CHOICES:
        for key in leaf_keys(compose_defaults("train", tuple(choices))):
            keys.setdefault(key, choices)
    return keys


def wrong_value(key: str, choices: list[str]) -> str:
    """A value of the wrong type: text where a number, boolean or list is expected, a list where text is."""
    if key in RULES:
        return "[1,2]" if RULES[key][0]("abc") else "abc"
    return "[1,2]" if default_kind(compose_defaults("train", tuple(choices)), key) is str else "abc"


KEYS = every_key()


def test_every_key_has_a_kind_to_check():
    """A key whose default is null says nothing about what it accepts: RULES must."""
    defaults = {key: default_kind(compose_defaults("train", tuple(choices)), key) for key, choices in KEYS.items()}
    assert [key for key, kind in defaults.items() if kind is None and key not in RULES] == []
    assert len(KEYS) > 80


@pytest.mark.parametrize("key", list(KEYS))
def test_a_wrongly_typed_value_of_any_key_is_one_line(key):
    """Checked as train.py checks a run's config before building anything (CASES go through whole runs)."""
    choices = KEYS[key]
    override = f"{key}={wrong_value(key, choices)}"
    cfg = compose_defaults("train", tuple(choices)).copy()
    OmegaConf.update(cfg, key, OverridesParser.create().parse_override(override).value())
    with pytest.raises(ConfigError) as error:
        check_values(cfg, "train", [*choices, override])
    assert error.value.key == key and " is invalid: " in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("group", "name"),
    [("data", "imagenet"), ("model", "resnet"), ("optimizer", "adam,lion"), ("logger", "[tensorboard,wandbx]")],
)
def test_unknown_group_choice_lists_the_available_ones(group, name, tmp_path):
    sweep = "," in name and not name.startswith("[")  # a list is several choices of one run: logger=[a,b]
    result = run_script("train.py", *(["-m"] if sweep else []), f"{group}={name}", log_dir=tmp_path)
    assert result.returncode == 2
    wrong = name.strip("[]").split(",")[-1]
    choices = ", ".join(sorted(path.stem for path in (ROOT / "configs" / group).glob("*.yaml")))
    assert (result.stdout + result.stderr).strip() == f"error: {group}={wrong!r} is invalid: accepted: {choices}"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "multirun").exists()


def test_command_line_prints_one_line_and_exits_2(tmp_path):
    result = run_script("train.py", "model.act=swish", log_dir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "Traceback" not in output
    error_lines = [line for line in output.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and error_lines[0].endswith(CASES["model.act=swish"])


def test_a_list_of_known_choices_runs(tmp_path):
    """`logger=[tensorboard,csv]` (both loggers at once, as configs/logger/csv.yaml says) is not refused."""
    result = run_script("train.py", "logger=[tensorboard,csv]", "trainer.max_epochs=1", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "metrics.csv").is_file() and list(run_dir.glob("events.out.tfevents.*"))
