"""IMDB from Parquet files: tokens, the training vocabulary, padding in front, the split and bad files."""

import pytest
import torch

from conftest import read_json, train_in_process
from official_formats import TINY_REVIEWS, tiny_imdb, write_reviews
from studykit.data import text
from studykit.data.imdb import IMDBDataModule
from studykit.errors import DataError


def test_tokens_are_lower_case_words_without_markup():
    assert text.tokenize("A great movie.<br /><br />I've LOVED it!") == ["a", "great", "movie", "i've", "loved", "it"]


def test_vocabulary_by_frequency_with_reserved_ids_and_front_padding():
    tokens = [text.tokenize(review) for review, _ in TINY_REVIEWS]
    vocabulary = text.build_vocabulary(tokens, size=5)
    assert vocabulary == ["<pad>", "<unk>", "great", "awful", "a"]
    rows = text.encode([["great", "film"], ["awful", "great", "a", "great"]], vocabulary, max_len=3)
    assert rows.tolist() == [[0, 2, 1], [2, 4, 2]]


def test_imdb_module_splits_encodes_and_keeps_its_vocabulary(tmp_path):
    tiny_imdb(tmp_path, copies=10)
    module = IMDBDataModule(data_dir=str(tmp_path), vocab_size=6, max_len=4, val_fraction=0.2, download=False)
    splits = module.load_splits()
    assert [len(splits[split][1]) for split in ("train", "val", "test")] == [48, 12, 60]
    assert torch.bincount(splits["val"][1]).tolist() == [6, 6]
    ids, labels = splits["test"]
    assert ids.shape == (60, 4) and ids.dtype == torch.int32 and 0 <= ids.min() and ids.max() < 6
    assert module.vocabulary[:4] == ["<pad>", "<unk>", "great", "awful"]
    assert module.input_shape == (4,) and module.num_classes == 2
    assert module.encode(["awful, just awful"]).tolist() == [[0, 3, 1, 3]]
    # A checkpoint keeps the vocabulary, so new text is encoded as in training.
    restored = IMDBDataModule(data_dir=str(tmp_path), vocab_size=6, max_len=4, download=False)
    restored.load_state_dict(module.state_dict())
    assert restored.encode(["great great"]).tolist() == [[0, 0, 2, 2]]


def test_the_tokenized_cache_is_per_vocabulary_and_length(tmp_path):
    tiny_imdb(tmp_path, copies=10)
    IMDBDataModule(data_dir=str(tmp_path), vocab_size=6, max_len=4, download=False).load_splits()
    IMDBDataModule(data_dir=str(tmp_path), vocab_size=8, max_len=4, download=False).load_splits()
    cached = sorted(path.name for path in (tmp_path / "imdb" / "processed").iterdir())
    assert cached == ["tokens-vocab6-len4.pt", "tokens-vocab8-len4.pt"]


def test_a_truncated_parquet_file_is_named(tmp_path):
    tiny_imdb(tmp_path)
    path = tmp_path / "imdb" / "test.parquet"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=f"{path} is not a Parquet file of IMDB reviews"):
        IMDBDataModule(data_dir=str(tmp_path), download=False).load_splits()


def test_labels_other_than_0_and_1_are_refused(tmp_path):
    tiny_imdb(tmp_path)
    write_reviews(tmp_path / "imdb" / "train.parquet", ["fine", "meh"], [1, 5])
    with pytest.raises(DataError, match="train.parquet must hold reviews labelled 0 .* or 1"):
        IMDBDataModule(data_dir=str(tmp_path), download=False).load_splits()


def test_textcnn_on_tiny_reviews_learns_and_its_checkpoint_classifies_new_text(tmp_path):
    tiny_imdb(tmp_path / "data", copies=10)
    overrides = ["data=imdb", "model=textcnn", f"paths.data_dir={tmp_path / 'data'}", "data.max_len=8"]
    settings = ["data.vocab_size=12", "data.batch_size=8", "model.hidden=8", "trainer.max_epochs=15"]
    summary = train_in_process(tmp_path / "run", *overrides, *settings)
    assert summary["params"] == 12 * 32 + (32 * 32 * 3 + 32) + (32 * 4 * 8 + 8) + (8 + 1)
    assert summary["train_acc"] == 1.0 and summary["test_acc"] == 1.0
    counts = read_json(tmp_path / "run" / "confusion.json")["counts"]["test"]
    assert counts == [[30, 0], [0, 30]]

    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)
    (state,) = [value for key, value in checkpoint.items() if key == "IMDBDataModule"]
    assert state["vocabulary"][:4] == ["<pad>", "<unk>", "great", "awful"]
