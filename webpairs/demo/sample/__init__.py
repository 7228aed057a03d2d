"""Procedurally generated raw shards in img2dataset layout, with planted defects and ground truth."""
