"""Hyper-parameter search: the Optuna study behind the project's Hydra sweeper (src/hydra_plugins)."""
