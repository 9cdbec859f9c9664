"""Lightning + Hydra template for small-data studies."""
