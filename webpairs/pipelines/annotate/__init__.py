"""The `annotate` job: one annotation row per raw example, kept or rejected with a reason."""
