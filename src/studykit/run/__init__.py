"""A run dir's lifetime: one writer, whole-or-nothing files, failures as one line, checkpoints to continue from,
job names, ranks, threads and quiet logging."""
