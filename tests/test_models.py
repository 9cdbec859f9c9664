"""The networks: the studies' exact parameter counts, their shapes and variants, and Keras' sigmoid output."""

import pytest
import torch
import torch.nn.functional as F

from studykit.classifier import loss, predictions
from studykit.config.compose import compose_defaults
from studykit.config.values import check_values
from studykit.errors import ConfigError
from studykit.models.convnet import ConvNet
from studykit.models.mlp import MLP
from studykit.models.textcnn import TextCNN

MNIST, CIFAR10, IMDB = (1, 28, 28), (3, 32, 32), (500,)


def parameters(network):
    return sum(parameter.numel() for parameter in network.parameters())


@pytest.mark.parametrize(
    ("network", "count"),
    [
        (lambda: ConvNet(MNIST, 10), 1_625_866),  # net_1 on MNIST
        (lambda: ConvNet(CIFAR10, 10), 2_117_962),  # net_1 on CIFAR-10
        (lambda: ConvNet(MNIST, 10, pooling="stride"), 1_625_866),  # net_2 on MNIST
        (lambda: TextCNN(IMDB, 2, vocab_size=5000), 2_163_605),
        (lambda: TextCNN(IMDB, 2, vocab_size=5000, conv=False), 4_160_501),  # the embedding-MLP
        (lambda: MLP(MNIST, 10, hidden=10, act="sigmoid"), 7_960),  # study D
        (lambda: MLP(MNIST, 10, hidden=128, depth=2, output_act="sigmoid"), 118_282),  # study C, dense
        (lambda: MLP((2,), 2, hidden=[4, 8], act="sigmoid"), 2 * 4 + 4 + 4 * 8 + 8 + 8 * 2 + 2),  # C, circles
    ],
    ids=[
        *("net_1-mnist", "net_1-cifar10", "net_2-mnist", "textcnn", "embedding-mlp"),
        *("mnist-784-10-10", "mnist-dense", "circles-2-4-8-2"),
    ],
)
def test_parameter_counts_equal_the_studies_keras_summaries(network, count):
    assert parameters(network()) == count


def test_mlp_hidden_list_gives_one_layer_per_width():
    linear = [layer for layer in MLP((64,), 10, hidden=[32, 16, 8]).layers if isinstance(layer, torch.nn.Linear)]
    assert [layer.out_features for layer in linear] == [32, 16, 8, 10]
    linear = [layer for layer in MLP((64,), 10, hidden=[5, 5], depth=2).layers if isinstance(layer, torch.nn.Linear)]
    assert [layer.out_features for layer in linear] == [5, 5, 10]
    with pytest.raises(ConfigError, match=r"depth=3 is invalid: hidden=\[4, 8\] gives 2 layers: leave depth at 1"):
        MLP((2,), 2, hidden=[4, 8], depth=3)
    # Widths are checked before a run, in their one home (studykit.config.values), not again by the network.
    with pytest.raises(ConfigError, match=r"hidden=\[4, 0\] is invalid: must be an integer >= 1"):
        check_values(compose_defaults("train", ("model.hidden=[4,0]",)), "train", ["model.hidden=[4,0]"])


@pytest.mark.parametrize("pooling", ["max", "avg", "none", "stride"])
def test_convnet_poolings_give_class_logits(pooling):
    network = ConvNet(CIFAR10, 10, channels=[4, 8], pooling=pooling, hidden=16)
    assert network(torch.rand(5, *CIFAR10)).shape == (5, 10)
    flattened = network.head[1].in_features
    assert flattened == {"max": 8 * 16 * 16, "avg": 8 * 16 * 16, "none": 8 * 32 * 32, "stride": 8 * 16 * 16}[pooling]


def test_convnet_pool_stride_one_keeps_almost_the_full_size():
    network = ConvNet(MNIST, 10, channels=[4], pool_stride=1, hidden=8)
    assert network.head[1].in_features == 4 * 27 * 27


def test_pooling_that_shrinks_the_image_to_nothing_is_refused():
    with pytest.raises(ConfigError, match="pool_size=29 is invalid: pooling=max shrinks the 28x28 images to nothing"):
        ConvNet(MNIST, 10, pool_size=29)


def test_textcnn_reads_word_ids():
    network = TextCNN((20,), 2, vocab_size=50, embed_dim=4, filters=3, hidden=6)
    assert network(torch.randint(0, 50, (7, 20), dtype=torch.int32)).shape == (7, 1)
    assert TextCNN((20,), 2, vocab_size=50, single_logit=False)(torch.zeros(3, 20, dtype=torch.long)).shape == (3, 2)
    assert TextCNN((20,), 4, vocab_size=50)(torch.zeros(3, 20, dtype=torch.long)).shape == (3, 4)


def test_sigmoid_output_is_keras_categorical_cross_entropy_on_sigmoids():
    torch.manual_seed(0)
    network = MLP((6,), 4, hidden=5, output_act="sigmoid")
    inputs, targets = torch.randn(8, 6), torch.randint(0, 4, (8,))
    outputs = network(inputs)
    sigmoids = torch.sigmoid(network.layers[:-1](inputs))
    keras_loss = -torch.log(sigmoids[torch.arange(8), targets] / sigmoids.sum(dim=1)).mean()
    assert torch.allclose(F.cross_entropy(outputs, targets), keras_loss, atol=1e-6)


def test_one_logit_trains_with_binary_cross_entropy_and_predicts_by_sign():
    logits = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])
    targets = torch.tensor([1, 1, 0, 0])
    assert predictions(logits).tolist() == [1, 0, 1, 0]
    expected = -(F.logsigmoid(torch.tensor([2.0, -1.0])).sum() + F.logsigmoid(-torch.tensor([0.5, -3.0])).sum()) / 4
    assert torch.allclose(loss(logits, targets), expected)


def test_keras_initialization_leaves_bias_free_layers_alone():
    from studykit.models.initialization import initialize

    network = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, bias=False), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    initialize(network, "keras")
    assert network[0].bias is None and torch.equal(network[2].bias, torch.zeros(2))
    assert network[0].weight.abs().max() <= (6 / (9 + 36)) ** 0.5  # Glorot-uniform's bound for 1x3x3 -> 4x3x3


def test_a_network_outside_the_contract_is_refused_in_one_line(tmp_path):
    from conftest import train_in_process

    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit):
        train_in_process(run_dir, "model=mlp", "model._target_=torch.nn.Identity")
    assert (run_dir / "failure.txt").read_text() == (
        "error: model._target_='torch.nn.Identity' is invalid: a network must subclass "
        "studykit.models.network.Network and list the kinds of input it reads in input_kinds (of features, images, "
        "tokens)\n"
    )
