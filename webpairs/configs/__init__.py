"""Python config files (`get_config() -> ml_collections.ConfigDict`) and their loader."""
