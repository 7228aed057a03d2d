"""Evaluators: each built from a config dict, each `run(model)` yielding (metric, value)."""
