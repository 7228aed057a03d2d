"""Input from curated shards (webpairs.formats.curated reads them): a grain source, transforms, device batches."""

from webpairs.pretrain.input.pipeline import DeviceIterator, auto_workers, host_shards, make_dataset, make_source
from webpairs.pretrain.input.preprocess import decode_image, inception_box
from webpairs.pretrain.input.source import CuratedSource

__all__ = ["CuratedSource", "DeviceIterator", "auto_workers", "decode_image", "host_shards", "inception_box",
           "make_dataset", "make_source"]
