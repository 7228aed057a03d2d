"""JAX/Flax pretraining: models, objectives, input, trainer, configs."""
