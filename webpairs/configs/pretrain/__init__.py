"""Training config files: each `get_config(arg)` returns an ml_collections.ConfigDict."""
