"""Many runs as one: the jobs of a sweep that differ only in their seed, optimizer hyper-parameters or early
stopping train together (`hydra/launcher=stacked`), then each is handed to its own single run, which writes
every file a run writes."""
