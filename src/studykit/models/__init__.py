"""Plain `nn.Module` networks; each takes `input_shape` and `num_classes` from the data set."""
