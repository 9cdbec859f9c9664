"""Lightning callbacks that turn what the classifier measures into files and TensorBoard entries."""
