"""Beam jobs and their IO: read raw shards, annotate, select, materialize; runner options."""
