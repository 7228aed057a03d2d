"""SigLIP 2 mix: quality filters, then 90% English and 10% other languages (down-sampling only)."""

from webpairs.configs.curation import quality


def get_config():
  c = quality.get_config()
  c.name = "en90"
  c.quotas.enabled = True
  c.quotas.shares = {"en": 0.9}
  c.quotas.size = "downsample"
  return c
