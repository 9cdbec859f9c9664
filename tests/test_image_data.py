"""MNIST and CIFAR-10 from files in the official formats: parsing, the seeded split, the cache, per-batch
normalization and augmentation, and the clear error for each kind of bad file."""

import gzip
import os
import pickle

import numpy as np
import pytest
import torch

from official_formats import tiny_cifar10, tiny_mnist, write_idx
from studykit.data import idx
from studykit.data.augment import random_crop_and_flip
from studykit.data.cifar10 import CIFAR10DataModule
from studykit.data.mnist import MNISTDataModule
from studykit.errors import DataError


@pytest.mark.parametrize("gzipped", [True, False])
def test_mnist_idx_files_load_with_a_stratified_seeded_validation_split(tmp_path, gzipped):
    arrays = tiny_mnist(tmp_path, train=40, gzipped=gzipped)
    splits = MNISTDataModule(data_dir=str(tmp_path), val_fraction=0.25, download=False).load_splits()
    assert {split: tuple(x.shape) for split, (x, _) in splits.items()} == {
        "train": (30, 1, 28, 28),
        "val": (10, 1, 28, 28),
        "test": (20, 1, 28, 28),
    }
    assert splits["train"][0].dtype == torch.uint8 and splits["train"][1].dtype == torch.int64
    assert torch.bincount(splits["val"][1]).tolist() == [1] * 10
    # Images stay paired with their labels, and train and val together are the training file.
    train_val = torch.cat([splits["train"][0], splits["val"][0]])[:, 0, 0, 0].sort().values
    assert train_val.tolist() == list(range(40))
    for images, labels in (splits["train"], splits["val"]):
        assert torch.equal(images[:, 0, 0, 0].long() % 10, labels)
    assert torch.equal(splits["test"][1], torch.from_numpy(arrays["test_labels"]))
    other_seed = MNISTDataModule(data_dir=str(tmp_path), val_fraction=0.25, seed=1, download=False).load_splits()
    assert not torch.equal(other_seed["val"][0], splits["val"][0])


def test_the_cache_is_used_then_rebuilt_when_the_files_change(tmp_path, monkeypatch):
    tiny_mnist(tmp_path)
    first = MNISTDataModule(data_dir=str(tmp_path), download=False).load_splits()
    assert (tmp_path / "mnist" / "processed" / "mnist.pt").is_file()
    assert not list((tmp_path / "mnist" / "processed").glob(".*partial"))

    def parse_again(*arguments):
        raise AssertionError("parsed the IDX files although the cache is valid")

    monkeypatch.setattr(idx, "read_idx_set", parse_again)
    second = MNISTDataModule(data_dir=str(tmp_path), download=False).load_splits()
    assert all(torch.equal(first[split][0], second[split][0]) for split in first)
    monkeypatch.undo()
    tiny_mnist(tmp_path, train=120)
    assert MNISTDataModule(data_dir=str(tmp_path), download=False).split_sizes()["test"] == 20
    assert sum(MNISTDataModule(data_dir=str(tmp_path), download=False).split_sizes().values()) == 140


def test_a_damaged_cache_is_rebuilt_and_an_unwritable_cache_dir_only_costs_time(tmp_path):
    tiny_mnist(tmp_path)
    MNISTDataModule(data_dir=str(tmp_path), download=False).load_splits()
    cache = tmp_path / "mnist" / "processed" / "mnist.pt"
    cache.write_bytes(cache.read_bytes()[:100])
    assert sum(MNISTDataModule(data_dir=str(tmp_path), download=False).split_sizes().values()) == 120
    assert cache.stat().st_size > 100
    cache.unlink()
    cache.parent.rmdir()
    cache.parent.write_text("a file where the cache folder should be")  # (tests run as root: chmod would not stop it)
    assert sum(MNISTDataModule(data_dir=str(tmp_path), download=False).split_sizes().values()) == 120
    assert cache.parent.is_file()


def truncate(path, keep):
    path.write_bytes(path.read_bytes()[:keep])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: truncate(path, path.stat().st_size // 2), "cannot be read"),
        (lambda path: path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-5])), "is truncated"),
        (lambda path: path.write_bytes(gzip.compress(b"<html>not found</html>")), "is not an IDX file"),
    ],
    ids=["truncated-gzip", "truncated-idx", "not-idx"],
)
def test_a_damaged_mnist_file_is_named(tmp_path, damage, message):
    tiny_mnist(tmp_path)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    damage(path)
    with pytest.raises(DataError, match=f"{path}.* {message}"):
        MNISTDataModule(data_dir=str(tmp_path), download=False).load_splits()
    assert not (tmp_path / "mnist" / "processed").exists()


def test_mnist_labels_that_do_not_match_the_images_are_named(tmp_path):
    tiny_mnist(tmp_path)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz", np.arange(19) % 10)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz does not match t10k-images"):
        MNISTDataModule(data_dir=str(tmp_path), download=False).load_splits()


def test_missing_mnist_files_say_which_and_where(tmp_path):
    tiny_mnist(tmp_path)
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(tmp_path), download=False).load_splits()
    message = str(error.value)
    assert "t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz not found" in message
    assert str(tmp_path / "mnist") in message and "DATA_DIR" in message
    assert "train-images" not in message


def test_cifar10_batches_load_channel_major(tmp_path):
    train_images = tiny_cifar10(tmp_path)
    module = CIFAR10DataModule(data_dir=str(tmp_path), val_fraction=0.2, download=False)
    splits = module.load_splits()
    assert [len(splits[split][1]) for split in ("train", "val", "test")] == [80, 20, 20]
    assert splits["train"][0].shape[1:] == (3, 32, 32) and splits["train"][0].dtype == torch.uint8
    reference = {image.tobytes() for image in train_images}
    assert all(image.numpy().tobytes() in reference for image in splits["val"][0])
    assert module.class_names[3] == "cat"


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    tiny_cifar10(tmp_path)

    class RunsCode:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(pickle.dumps({"data": RunsCode(), "labels": []}, protocol=2))
    with pytest.raises(
        DataError, match="data_batch_3 is not a CIFAR-10 python batch.*refusing to load __builtin__.print"
    ):
        CIFAR10DataModule(data_dir=str(tmp_path), download=False).load_splits()


def test_a_truncated_cifar_batch_is_named(tmp_path):
    tiny_cifar10(tmp_path)
    truncate(tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch", 500)
    with pytest.raises(DataError, match="test_batch is not a CIFAR-10 python batch"):
        CIFAR10DataModule(data_dir=str(tmp_path), download=False).load_splits()


def test_scaled_or_standardized_batches(tmp_path):
    tiny_cifar10(tmp_path)
    scaled = CIFAR10DataModule(data_dir=str(tmp_path), download=False)
    scaled.setup()
    images, labels = scaled.splits["train"]
    out, same_labels = scaled.transform((images, labels), training=True)
    assert out.dtype == torch.float32 and torch.equal(out, images.float() / 255) and same_labels is labels
    standardized = CIFAR10DataModule(data_dir=str(tmp_path), normalize="standardize", download=False)
    standardized.setup()
    out, _ = standardized.transform(standardized.splits["train"], training=False)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(out.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)


def test_augmentation_touches_training_batches_only(tmp_path):
    tiny_cifar10(tmp_path)
    module = CIFAR10DataModule(data_dir=str(tmp_path), augment=True, download=False)
    module.setup()
    images, labels = module.splits["val"]
    evaluated, _ = module.transform((images, labels), training=False)
    assert torch.equal(evaluated, images.float() / 255)
    trained, _ = module.transform((images, labels), training=True)
    assert trained.shape == evaluated.shape and not torch.equal(trained, evaluated)


def test_crop_and_flip_moves_whole_images():
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4) + 1
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        out = random_crop_and_flip(images, padding=1, generator=generator)
        for image, result in zip(images[:, 0], out[:, 0], strict=True):
            candidates = []
            for flipped in (image, image.flip(-1)):
                padded = torch.nn.functional.pad(flipped, (1, 1, 1, 1))
                candidates += [padded[top : top + 4, left : left + 4] for top in range(3) for left in range(3)]
            assert any(torch.equal(result, candidate) for candidate in candidates)
    unshifted = random_crop_and_flip(images, padding=0, generator=generator)
    assert all(torch.equal(u, i) or torch.equal(u, i.flip(-1)) for u, i in zip(unshifted, images, strict=True))


def test_fashion_mnist_is_an_idx_data_set_of_its_own(tmp_path):
    """A new IDX data set is a subclass and a YAML file: a run on it reads its own folder, caches it there, and
    names its classes."""
    from conftest import read_json, train_in_process

    tiny_mnist(tmp_path / "data", train=100, test=20, folder="fashion_mnist")
    run_dir = tmp_path / "logs" / "run"
    summary = train_in_process(
        run_dir,
        "data=fashion_mnist",
        f"paths.data_dir={tmp_path / 'data'}",
        "data.download=false",
        "trainer.max_epochs=2",
    )
    assert summary["epochs"] == 2 and summary["params"] == 784 * 40 + 40 + 40 * 10 + 10
    assert (tmp_path / "data" / "fashion_mnist" / "processed" / "fashion_mnist.pt").is_file()
    assert not (tmp_path / "data" / "mnist").exists()
    confusion = read_json(run_dir / "confusion.json")
    assert confusion["class_names"][0] == "T-shirt/top" and confusion["class_names"][9] == "Ankle boot"
    assert sum(map(sum, confusion["counts"]["test"])) == 20


@pytest.mark.parametrize("bad_label", [-1, 200])
def test_a_cache_that_loads_but_holds_impossible_labels_is_rebuilt(tmp_path, caplog, bad_label):
    tiny_mnist(tmp_path)
    good = MNISTDataModule(data_dir=str(tmp_path), download=False).load_splits()
    cache = tmp_path / "mnist" / "processed" / "mnist.pt"
    content = torch.load(cache, weights_only=True)
    content["data"]["train_labels"][5] = bad_label  # bytes changed inside the file; its sources did not change
    torch.save(content, cache)
    again = MNISTDataModule(data_dir=str(tmp_path), download=False).load_splits()
    assert all(torch.equal(good[split][1], again[split][1]) for split in good)
    problem = f"train_labels holds labels from {min(bad_label, 0)} to {max(bad_label, 9)}, not 0 to 9"
    assert f"ignoring the damaged cache {cache} ({problem}); rebuilding it" in caplog.text
    assert int(torch.load(cache, weights_only=True)["data"]["train_labels"].max()) == 9  # the rebuilt cache


def test_a_cache_read_again_unchanged_in_the_same_process_is_not_read_from_disk(tmp_path, monkeypatch):
    """A sweep's jobs in one process (a stacked group and its members' runs) read the cache file once."""
    from studykit.data import cache

    path, built = tmp_path / "data.pt", {"train_labels": torch.tensor([0, 1])}
    first = cache.cached(path, [], lambda: built)
    loads = []
    original = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: loads.append(args) or original(*args, **kwargs))
    second, third = (cache.cached(path, [], lambda: {}) for _ in range(2))
    assert len(loads) == 1 and torch.equal(second["train_labels"], first["train_labels"]) and third is second
    changed = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(changed, changed))  # rewritten since: read again
    cache.cached(path, [], lambda: {})
    assert len(loads) == 2


@pytest.mark.parametrize("augment", [False, True])
def test_a_replayed_run_counts_its_batches_unless_its_training_transform_draws(tmp_path, augment):
    """A stacked member's run (studykit.stacking.replay) cuts no batch, except the training batches of augmented
    data: their augmentation generator must move on as in the group (it is in the checkpoints)."""
    from studykit.stacking.replay import MemberRecord, replaying

    tiny_mnist(tmp_path)
    module = MNISTDataModule(data_dir=str(tmp_path), val_fraction=0.25, augment=augment, download=False)
    module.setup()
    with replaying(MemberRecord()):
        train, val, tests = module.train_dataloader(), module.val_dataloader(), module.test_dataloader()
    assert train.counts_only is not augment and val.counts_only and all(loader.counts_only for loader in tests)
    assert module.train_dataloader().counts_only is False  # outside a replay
    if augment:
        state = module.augmentation.get_state()
        assert all(len(targets) for _, targets in train)
        assert not torch.equal(module.augmentation.get_state(), state)  # it drew, as in the group
