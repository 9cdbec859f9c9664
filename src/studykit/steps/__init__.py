"""How a training step is computed where autograd and the optimizer's Python cost more than the arithmetic: an
MLP's gradients written out (one run's or a stacked group's), and fused Adam's kernel called directly."""
