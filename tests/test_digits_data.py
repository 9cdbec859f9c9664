"""Digits: stratified seeded splits, standardization fitted on train only, the UCI files and their errors."""

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA
from studykit.data import digits
from studykit.data.digits import DigitsDataModule
from studykit.errors import DataError


def class_counts(targets):
    return torch.bincount(targets, minlength=10)


def test_sklearn_split_is_stratified_and_seeded():
    splits = DigitsDataModule(seed=0).load_splits()
    sizes = {split: len(targets) for split, (_, targets) in splits.items()}
    assert sizes == {"train": 1077, "val": 360, "test": 360}
    for _, targets in splits.values():
        counts = class_counts(targets).double()
        assert (counts / counts.sum() - 0.1).abs().max() < 0.01
    again = DigitsDataModule(seed=0).load_splits()
    other = DigitsDataModule(seed=1).load_splits()
    assert torch.equal(splits["test"][0], again["test"][0])
    assert not torch.equal(splits["test"][0], other["test"][0])


def test_standardized_with_training_statistics_only():
    splits = DigitsDataModule().load_splits()
    train = splits["train"][0]
    varying = train.std(dim=0) > 0
    assert torch.allclose(train.mean(dim=0), torch.zeros(64), atol=1e-5)
    assert torch.allclose(train[:, varying].std(dim=0, unbiased=False), torch.ones(int(varying.sum())), atol=1e-4)
    # Pixels that never light up in train keep scale 1: they stay finite and small everywhere.
    assert (~varying).any()
    for inputs, _ in splits.values():
        assert torch.isfinite(inputs).all() and inputs[:, ~varying].abs().max() <= 16


def write_uci(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.asarray(rows), fmt="%d", delimiter=",")


def tiny_uci(directory, first_pixel_in_test=16):
    """UCI-format files with 20 train and 10 test rows; pixel 0 is 0 in every training row."""
    rng = np.random.default_rng(0)
    train = np.column_stack([rng.integers(0, 17, (20, 64)), np.arange(20) % 10])
    train[:, 0] = 0
    test = np.column_stack([rng.integers(0, 17, (10, 64)), np.arange(10)])
    test[:, 0] = first_pixel_in_test
    write_uci(directory / "optdigits" / "optdigits.tra", train)
    write_uci(directory / "optdigits" / "optdigits.tes", test)


def test_official_split_keeps_the_test_file_and_constant_pixels_do_not_blow_up(tmp_path):
    tiny_uci(tmp_path)
    splits = DigitsDataModule(source="uci", split="official", data_dir=str(tmp_path), val_fraction=0.5).load_splits()
    assert [len(splits[split][1]) for split in ("train", "val", "test")] == [10, 10, 10]
    assert torch.equal(splits["test"][1], torch.arange(10))
    assert torch.equal(splits["test"][0][:, 0], torch.full((10,), 16.0))


def test_missing_files_offline_say_what_to_place_where(tmp_path, monkeypatch):
    monkeypatch.setattr(digits, "UCI_URL", (tmp_path / "no-mirror").as_uri() + "/")
    with pytest.raises(DataError) as error:
        DigitsDataModule(source="uci", data_dir=str(tmp_path)).load_splits()
    message = str(error.value)
    assert str(tmp_path / "optdigits") in message and "optdigits.tra" in message and "optdigits.tes" in message
    assert not list((tmp_path / "optdigits").glob("*"))


@pytest.mark.parametrize("content", ["1,2,3\n4,5,6\n", "not,a,number\n", ""])
def test_corrupt_file_is_named(tmp_path, content):
    tiny_uci(tmp_path)
    (tmp_path / "optdigits" / "optdigits.tes").write_text(content)
    with pytest.raises(DataError, match="optdigits.tes is not a UCI optdigits file"):
        DigitsDataModule(source="uci", data_dir=str(tmp_path)).load_splits()


@pytest.mark.skipif(not (SHARED_DATA / "optdigits").exists(), reason="needs ../shared/data/optdigits")
@pytest.mark.parametrize(("split", "sizes"), [("official", [3058, 765, 1797]), ("pooled", [3372, 1124, 1124])])
def test_real_uci_files(split, sizes):
    module = DigitsDataModule(source="uci", split=split, data_dir=str(SHARED_DATA))
    splits = module.load_splits()
    assert [len(splits[name][1]) for name in ("train", "val", "test")] == sizes
    if split == "official":
        expected = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        assert class_counts(splits["test"][1]).tolist() == expected
    for inputs, _ in splits.values():
        assert inputs.dtype == torch.float32 and inputs.shape[1] == 64 and torch.isfinite(inputs).all()
