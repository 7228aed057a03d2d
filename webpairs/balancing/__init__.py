"""Language quotas and M4 moment matching (pure numpy; wired into Beam by pipelines/)."""
