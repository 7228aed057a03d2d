"""CLI commands that wire several packages together (a model, its evals, the demo set)."""
