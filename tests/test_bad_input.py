"""Bad settings stop the run before training with one line naming the key, the value and what is accepted."""

import pytest
from hydra.errors import MissingConfigException

from conftest import run_script, train_in_process
from studykit.compose import compose_run

CASES = {
    "model.act=swish": "model.act='swish' is invalid: accepted: elu, gelu, leaky_relu, mish, relu, selu, sigmoid, "
    "silu, softplus, tanh",
    "model.hidden=0": "model.hidden=0 is invalid: must be an integer >= 1",
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
    "data=imdb model=textcnn model.vocab_size=100": "model.vocab_size=100 is invalid: must be at least "
    "data.vocab_size=5000, the data's word ids go up to 4999",
    "model.output_act=softmax": "model.output_act='softmax' is invalid: accepted: none, sigmoid",
    "optimizer.lr=-0.1": "optimizer={'lr': -0.1, 'weight_decay': 0.0, 'fused': True} is invalid: "
    "Invalid learning rate: -0.1",
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


@pytest.mark.parametrize(("group", "name"), [("data", "imagenet"), ("model", "resnet"), ("optimizer", "lion")])
def test_unknown_group_choice_lists_the_available_ones(group, name, tmp_path):
    with pytest.raises(MissingConfigException) as error:
        compose_run("train", [f"{group}={name}"], tmp_path)
    assert f"Could not find '{group}/{name}'" in str(error.value)
    assert "Available options" in str(error.value)


def test_command_line_prints_one_line_and_exits_2(tmp_path):
    result = run_script("train.py", "model.act=swish", log_dir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "Traceback" not in output
    error_lines = [line for line in output.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and error_lines[0].endswith(CASES["model.act=swish"])
