"""Plain `nn.Module` networks (`network.Network`); each takes `input_shape` and `num_classes` from the data set."""
