"""In-memory batches: every sample once per epoch, reshuffled by a generator whose state is the order of the
epochs to come; the per-batch transform; shards for DDP ranks."""

import torch

from studykit.data import tensor_batches
from studykit.data.tensor_batches import TensorBatches


def test_one_epoch_sees_every_sample_once_and_epochs_differ():
    inputs, targets = torch.arange(100).float().unsqueeze(1), torch.arange(100)
    order = torch.Generator().manual_seed(0)
    batches = TensorBatches(inputs, targets, batch_size=32, order=order)
    first = [targets for _, targets in batches]
    assert len(first) == len(batches) == 4 and [len(b) for b in first] == [32, 32, 32, 4]
    assert sorted(torch.cat(first).tolist()) == list(range(100))
    state = order.get_state()
    second = torch.cat([targets for _, targets in batches])
    assert not torch.equal(torch.cat(first), second)
    again = torch.cat([targets for _, targets in TensorBatches(inputs, targets, 32, torch.Generator().manual_seed(0))])
    assert torch.equal(torch.cat(first), again)
    # The generator's state after an epoch is the next epoch's order, wherever it is restored.
    restored = torch.Generator()
    restored.set_state(state)
    assert torch.equal(torch.cat([targets for _, targets in TensorBatches(inputs, targets, 32, restored)]), second)


def test_unshuffled_batches_keep_the_order_and_pass_through_the_transform():
    inputs, targets = torch.arange(10).float().unsqueeze(1), torch.arange(10)
    batches = TensorBatches(inputs, targets, 4, transform=lambda batch: (batch[0] * 2, batch[1]))
    assert [x.squeeze(1).tolist() for x, _ in batches] == [[0, 2, 4, 6], [8, 10, 12, 14], [16, 18]]


def test_inputs_stay_paired_with_targets():
    inputs, targets = torch.arange(50).float().unsqueeze(1) * 10, torch.arange(50)
    for batch_inputs, batch_targets in TensorBatches(inputs, targets, 8, torch.Generator().manual_seed(1)):
        assert torch.equal(batch_inputs.squeeze(1), batch_targets.float() * 10)


def test_ranks_split_an_epoch_without_overlap_or_loss(monkeypatch):
    targets = torch.arange(101)
    seen, lengths = [], []
    for rank in range(2):
        monkeypatch.setattr(tensor_batches, "rank_in_process_group", lambda rank=rank: (rank, 2))
        batches = TensorBatches(targets.float(), targets, batch_size=10, order=torch.Generator().manual_seed(0))
        epoch = [targets for _, targets in batches]
        lengths.append(len(epoch))
        assert len(epoch) == len(batches)
        seen.append(torch.cat(epoch))
    assert lengths[0] == lengths[1]
    assert sorted(torch.cat(seen).tolist()) == list(range(101))


def test_counting_passes_move_the_order_on_as_cut_ones_and_yield_only_the_number_of_batches():
    """What a stacked member's replay iterates: one item per pass, the generator left as a full pass leaves it."""
    inputs, targets = torch.arange(100).float().unsqueeze(1), torch.arange(100)
    cut, counted = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(2):
        assert len(list(TensorBatches(inputs, targets, 32, cut))) == 4
        assert list(TensorBatches(inputs, targets, 32, counted, counts_only=True)) == [4]
        assert torch.equal(cut.get_state(), counted.get_state())
    assert list(TensorBatches(inputs, targets, 1024, counts_only=True)) == [1]
