"""The `detect` job: region annotations from any RunInference detector."""
