"""Quality-filtered pool: raw's dedup plus DataComp-basic-like image and caption filters."""

from webpairs.configs.curation import raw


def get_config():
  c = raw.get_config()
  c.name = "quality"
  c.dedup.caption_max_images = 10  # boilerplate alt-text ("image", "click here")
  f = c.filters
  f.min_side = 200
  f.max_aspect_ratio = 3.0
  f.min_caption_chars = 6
  f.max_caption_chars = 1000
  f.min_words = 3
  f.min_letter_ratio = 0.5
  f.max_digit_ratio = 0.3
  f.max_symbol_ratio = 0.3
  f.max_upper_ratio = 0.8
  f.max_repetition_ratio = 0.5
  f.reject_urls = True
  f.reject_html = True
  return c
