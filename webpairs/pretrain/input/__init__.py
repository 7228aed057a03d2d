"""Input from curated shards: tar indexing, a grain source, decode/tokenise transforms, device batches."""

from webpairs.pretrain.input.files import expand, host_shards
from webpairs.pretrain.input.pipeline import DeviceIterator, auto_workers, make_dataset, make_source
from webpairs.pretrain.input.preprocess import decode_image, inception_box
from webpairs.pretrain.input.source import CuratedSource
from webpairs.pretrain.input.tar_index import ShardIndex, index_tar

__all__ = ["CuratedSource", "DeviceIterator", "ShardIndex", "auto_workers", "decode_image", "expand", "host_shards",
           "inception_box", "index_tar", "make_dataset", "make_source"]
