"""WebLI-100B "raw": only safety and dedup (exact, near-duplicate, eval sets); everything else kept."""

from webpairs.configs.curation import base_config


def get_config():
  c = base_config()
  c.name = "raw"
  c.dedup.exact = True
  c.dedup.near = True
  return c
