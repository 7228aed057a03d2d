"""The `materialize` job: curated shards (webdataset or TFRecord), sidecars and the manifest."""
