"""In-memory batches: every sample once per epoch, reshuffled, seeded; shards for DDP ranks."""

import torch

from studykit.data import tensor_batches
from studykit.data.tensor_batches import TensorBatches


def test_one_epoch_sees_every_sample_once_and_epochs_differ():
    inputs, targets = torch.arange(100).float().unsqueeze(1), torch.arange(100)
    batches = TensorBatches(inputs, targets, batch_size=32, shuffle=True, seed=0)
    first = [targets for _, targets in batches]
    assert len(first) == len(batches) == 4 and [len(b) for b in first] == [32, 32, 32, 4]
    assert sorted(torch.cat(first).tolist()) == list(range(100))
    second = torch.cat([targets for _, targets in batches])
    assert not torch.equal(torch.cat(first), second)
    again = torch.cat([targets for _, targets in TensorBatches(inputs, targets, 32, shuffle=True, seed=0)])
    assert torch.equal(torch.cat(first), again)


def test_inputs_stay_paired_with_targets():
    inputs, targets = torch.arange(50).float().unsqueeze(1) * 10, torch.arange(50)
    for batch_inputs, batch_targets in TensorBatches(inputs, targets, 8, shuffle=True, seed=1):
        assert torch.equal(batch_inputs.squeeze(1), batch_targets.float() * 10)


def test_ranks_split_an_epoch_without_overlap_or_loss(monkeypatch):
    targets = torch.arange(101)
    seen, lengths = [], []
    for rank in range(2):
        monkeypatch.setattr(tensor_batches, "_rank_and_world_size", lambda rank=rank: (rank, 2))
        batches = TensorBatches(targets.float(), targets, batch_size=10, shuffle=True, seed=0)
        epoch = [targets for _, targets in batches]
        lengths.append(len(epoch))
        assert len(epoch) == len(batches)
        seen.append(torch.cat(epoch))
    assert lengths[0] == lengths[1]
    assert sorted(torch.cat(seen).tolist()) == list(range(101))
