"""Crossmodal-3600: 3,600 geographically diverse images with human captions in 36 languages.

`<root>/captions.jsonl` holds one image per line: {"image/key": ID, "<lang>": {"caption":
[...], ...}, ...}; images are `<root>/images/<ID>.jpg`. When the repository's
`image_ids.txt` sits beside it, every captioned image must be one of those ids.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from webpairs.eval.datasets.base import RetrievalSet

CAPTIONS_JSONL = "captions.jsonl"
IMAGE_IDS_TXT = "image_ids.txt"
IMAGES_DIR = "images"
KEY = "image/key"
LANGUAGES = ("ar", "bn", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fil", "fr", "he", "hi", "hr", "hu", "id",
             "it", "ja", "ko", "mi", "nl", "no", "pl", "pt", "quz", "ro", "ru", "sv", "sw", "te", "th", "tr", "uk",
             "vi", "zh")
# The low-resource group of the WebLI-100B and SigLIP 2 papers; they spell Hebrew 'iw' (the old
# ISO 639 code), the captions file 'he'.
LOW_RESOURCE = ("bn", "fil", "hi", "iw", "mi", "sw", "te")
_SAME_LANGUAGE = {"iw": "he"}


def canonical_language(code: str) -> str:
  return _SAME_LANGUAGE.get(code, code)


def read_image_ids(path: str) -> list[str]:
  with open(path, encoding="utf-8") as f:
    return [line.strip() for line in f if line.strip()]


def parse_captions(path: str, *, languages: Sequence[str] | None = None, image_root: str | None = None,
                   image_ids: Sequence[str] | None = None, name: str = "xm3600") -> RetrievalSet:
  """captions.jsonl -> RetrievalSet (all captions of the chosen languages; default: every language present)."""
  wanted = None if languages is None else {canonical_language(code) for code in languages}
  known = None if image_ids is None else set(image_ids)
  paths, captions, text_image, text_lang = [], [], [], []
  with open(path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
      if not line.strip():
        continue
      record = json.loads(line)
      if KEY not in record:
        raise ValueError(f"{path}:{n}: no {KEY!r}")
      key = str(record[KEY])
      if known is not None and key not in known:
        raise ValueError(f"{path}:{n}: image {key} is not in {IMAGE_IDS_TXT}")
      image = len(paths)
      paths.append(f"{IMAGES_DIR}/{key}.jpg")
      for lang, entry in record.items():
        if lang == KEY or (wanted is not None and canonical_language(lang) not in wanted):
          continue
        for caption in entry.get("caption", []) if isinstance(entry, dict) else []:
          captions.append(str(caption))
          text_image.append(image)
          text_lang.append(lang)
  if wanted is not None:
    absent = sorted(wanted - {canonical_language(x) for x in text_lang})
    if absent:
      raise ValueError(f"{path}: no captions in {', '.join(absent)}")
  return RetrievalSet(name=name, root=image_root if image_root is not None else os.path.dirname(path),
                      paths=tuple(paths), captions=tuple(captions), text_image=text_image, text_lang=tuple(text_lang))


def load(root: str, *, languages: Sequence[str] | None = None, check: bool = True) -> RetrievalSet:
  path = os.path.join(root, CAPTIONS_JSONL)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"XM3600 captions not found: {path}")
  ids_path = os.path.join(root, IMAGE_IDS_TXT)
  ds = parse_captions(path, languages=languages, image_root=root,
                      image_ids=read_image_ids(ids_path) if os.path.isfile(ids_path) else None)
  if check:
    ds.check_images()
  return ds
