"""The run: the pipeline of stages, the dispatcher, the image step, stopping and signals."""
