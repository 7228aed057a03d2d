"""CLIP's zero-shot prompt templates and class names, shipped as JSON; parsed from CLIP's `prompts.md`.

Regenerate the shipped file with `python -m webpairs.eval.prompts path/to/prompts.md`.
"""

from __future__ import annotations

import ast
import functools
import json
import pathlib
import re
import sys
from collections.abc import Sequence

SHIPPED = pathlib.Path(__file__).resolve().parent / "clip_prompts.json"
PLACEHOLDER = "{}"
# One dataset: "## Name" then a fenced block holding `classes = [...]` and `templates = [...]`.
_SECTION = re.compile(r"^## (?P<name>.+?)\s*$", re.M)
_LIST = re.compile(r"^(?P<var>classes|templates)\s*=\s*(?P<body>\[.*?^\])", re.M | re.S)


def parse_clip_prompts(markdown: str) -> dict[str, dict[str, list]]:
  """{dataset: {"classes": [[name, alias, ...], ...], "templates": ["a photo of a {}.", ...]}}.

  Every class becomes a list of names: CLIP gives several names for some classes
  (FER2013), and zero-shot averages over all of them.
  """
  heads = list(_SECTION.finditer(markdown))
  out: dict[str, dict[str, list]] = {}
  for head, nxt in zip(heads, heads[1:] + [None]):
    body = markdown[head.end():nxt.start() if nxt else len(markdown)]
    lists = {m["var"]: ast.literal_eval(m["body"]) for m in _LIST.finditer(body)}
    if set(lists) != {"classes", "templates"}:
      continue  # prose sections
    classes = [[c] if isinstance(c, str) else list(c) for c in lists["classes"]]
    templates = list(lists["templates"])
    bad = [t for t in templates if PLACEHOLDER not in t]
    if bad:
      raise ValueError(f"{head['name']}: templates without {PLACEHOLDER}: {bad}")
    out[head["name"]] = {"classes": classes, "templates": templates}
  if not out:
    raise ValueError("no dataset sections with classes and templates found")
  return out


@functools.lru_cache(maxsize=1)
def _shipped() -> dict[str, dict[str, list]]:
  with open(SHIPPED, encoding="utf-8") as f:
    return json.load(f)


def datasets() -> list[str]:
  return sorted(_shipped())


def templates(name: str) -> list[str]:
  """CLIP's templates for a dataset, e.g. templates('Country211') -> ['a photo i took in {}.', ...]."""
  return list(_entry(name)["templates"])


def classnames(name: str) -> list[list[str]]:
  """CLIP's class names (each a list of aliases) for a dataset."""
  return [list(c) for c in _entry(name)["classes"]]


def _entry(name: str) -> dict[str, list]:
  data = _shipped()
  if name not in data:
    raise KeyError(f"no CLIP prompts for {name!r}; known: {', '.join(sorted(data))}")
  return data[name]


def resolve_templates(spec: str | Sequence[str]) -> list[str]:
  """A CLIP dataset name ('CIFAR10') or an explicit list of templates, each holding '{}'."""
  out = templates(spec) if isinstance(spec, str) else list(spec)
  if not out:
    raise ValueError("no prompt templates")
  bad = [t for t in out if PLACEHOLDER not in t]
  if bad:
    raise ValueError(f"templates must contain {PLACEHOLDER}: {bad}")
  return out


def main(argv: Sequence[str]) -> int:
  if len(argv) not in (1, 2):
    print("usage: python -m webpairs.eval.prompts PROMPTS.md [OUT.json]", file=sys.stderr)
    return 2
  data = parse_clip_prompts(pathlib.Path(argv[0]).read_text(encoding="utf-8"))
  out = pathlib.Path(argv[1]) if len(argv) == 2 else SHIPPED
  out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
  print(f"wrote {len(data)} datasets to {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
