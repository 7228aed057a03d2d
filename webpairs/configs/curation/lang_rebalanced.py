"""WebLI-100B "language-rebalanced": raw, with each low-resource language raised to 1%."""

from webpairs.configs.curation import raw

# Languages with little web text (lid.176 codes). Absent ones are skipped; present ones
# below 1% are up-sampled (repeats) to 1%, the rest shrink in proportion to make room.
LOW_RESOURCE = (
    "am", "as", "az", "be", "bn", "bs", "ceb", "cy", "eu", "ga", "gl", "gu", "ha", "hi", "hy",
    "ig", "is", "jv", "ka", "kk", "km", "kn", "ky", "lo", "mg", "mi", "ml", "mn", "mr", "mt",
    "my", "ne", "or", "pa", "ps", "si", "so", "sq", "su", "sw", "ta", "te", "tg", "tl", "ur",
    "uz", "xh", "yo", "zu",
)


def get_config():
  c = raw.get_config()
  c.name = "lang_rebalanced"
  c.quotas.enabled = True
  c.quotas.min_share = 0.01
  c.quotas.raise_langs = LOW_RESOURCE
  c.quotas.size = "pool"
  return c
