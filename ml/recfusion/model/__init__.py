"""The fusion model, its baselines, the training loop and the offline metrics."""
