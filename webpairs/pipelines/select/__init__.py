"""The `select` job: rules, dedup clusters, eval decontamination, quotas and M4 -> a selection."""
