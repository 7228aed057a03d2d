"""CLIP prompt templates shipped as data: equal to a fresh parse of CLIP's prompts.md, usable by name."""

from __future__ import annotations

import json

import pytest

from webpairs.eval import prompts

SNIPPET = """# Prompts

Some prose with a ```code``` block that is not a dataset.

## Toys

```bash
classes = [
    'ball',
    ['teddy bear', 'teddy'],
    "kid's kite",
]

templates = [
    'a photo of a {}.',
    'a {} on the floor.',
]
```

## Notes

Nothing to see.
"""


def test_parse_snippet():
  assert prompts.parse_clip_prompts(SNIPPET) == {
      "Toys": {"classes": [["ball"], ["teddy bear", "teddy"], ["kid's kite"]],
               "templates": ["a photo of a {}.", "a {} on the floor."]}}
  with pytest.raises(ValueError, match="without"):
    prompts.parse_clip_prompts(SNIPPET.replace("'a {} on the floor.'", "'no placeholder'"))


def test_shipped_file_is_the_parse_of_clips_prompts(shared_data):
  md = (shared_data / "eval_metadata" / "clip_prompts" / "prompts.md").read_text(encoding="utf-8")
  assert json.loads(prompts.SHIPPED.read_text(encoding="utf-8")) == prompts.parse_clip_prompts(md)


def test_lookups():
  assert len(prompts.datasets()) == 26  # CLIP's 27 minus ImageNet (whose prompts live in a notebook)
  assert len(prompts.classnames("Country211")) == 211
  assert prompts.templates("Country211")[0] == "a photo i took in {}."
  assert len(prompts.templates("CIFAR10")) == 18
  assert ["happy", "smiling"] in prompts.classnames("FacialEmotionRecognition2013")
  assert prompts.resolve_templates(["{} here"]) == ["{} here"]
  with pytest.raises(ValueError):
    prompts.resolve_templates(["no slot"])
  with pytest.raises(KeyError, match="known: Birdsnap"):
    prompts.templates("ImageNet")
