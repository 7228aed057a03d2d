"""Trained models for evals and scoring: the model protocol, two-tower and captioner implementations, checkpoint loader."""
