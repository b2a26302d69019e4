"""Training one cell: the trainer, its stages, checkpoints, optimiser, accelerator options, fault injection and the GPU lease."""
