"""The sweep report: one table of all runs of a multirun, the comparison figures, Markdown, HTML, TensorBoard."""
