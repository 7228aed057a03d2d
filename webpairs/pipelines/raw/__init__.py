"""Reading raw shards in Beam: webdataset tars, img2dataset parquet and their per-shard metadata."""
