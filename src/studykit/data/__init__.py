"""Data modules: each loads its data set once into tensors and serves batches from memory."""
