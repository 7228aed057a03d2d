"""Everything a sample will hold, decided from the seed before any byte is written."""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np

from webpairs.demo.sample import captions
from webpairs.demo.sample import defects
from webpairs.demo.sample import images
from webpairs.demo.sample import real
from webpairs.demo.sample import scenes

OOM_SHARD_COUNT = 5  # img2dataset's default: shard files 00000.tar, 00001.tar, ...
_FORMAT_WEIGHTS = (0.75, 0.15, 0.10)  # jpeg, png, webp
_PAGE_LANG_SHARE = 0.5  # examples whose .json carries page_lang
_PAGE_LANG_MISMATCH = 0.1  # of those, pages whose language is not the caption's
_SAME_CAPTION = {defects.EXACT_DUP: 0.5, defects.NEAR_DUP: 0.3}  # dups re-using the caption
_NEAR_DUP_MIN_SIDE = 96  # originals of near-dups: small enough edits stay near in phash
_MAX_CROP = 0.03  # near-dup crops: share cut per side
_TRUNCATED_MIN_SIDE = 128  # so a 30% cut lands in pixel data, not in the header
_HOSTS = ("images.example.com", "cdn.example.org", "static.example.net", "media.example.com",
          "photos.example.org", "img.example.co.jp", "upload.example.de", "files.example.com.br")
_DIRS = ("images", "uploads/2021/03", "wp-content/uploads", "media/cache", "photo", "i",
         "assets/img")


def shard_name(shard: int) -> str:
  return f"{shard:0{OOM_SHARD_COUNT}d}.tar"


def example_key(shard: int, offset: int, shard_size: int) -> str:
  """img2dataset's key: shard id, then the position in the shard padded to log10(shard size)."""
  oom_sample = math.ceil(math.log10(shard_size))
  return f"{shard * 10**oom_sample + offset:0{OOM_SHARD_COUNT + oom_sample}d}"


@dataclasses.dataclass(frozen=True)
class ExamplePlan:
  """One example: what its members will be and the ground truth about it.

  `image` says how the image member is made: render (draw `scene`), real (`photo`),
  exact_dup / near_dup (from example `dup_of`), corrupt, bomb, or none (no member).
  `width`, `height` and `image_format` are what the image header says (None when there
  is no readable header); `objects` are the drawn shapes with boxes in this image.
  """

  index: int
  key: str
  shard: int
  offset: int
  defect: str
  url: str
  lang: str | None  # language of the caption text; None when there is no readable caption
  caption: str | None  # truth caption; None for invalid UTF-8 and missing captions
  txt: bytes | None  # the .txt member; None: no .txt member
  json_has_caption: bool
  json_caption: str | None
  page_lang: str | None
  image: str
  image_format: str | None
  ext: str | None  # image member extension
  quality: int
  width: int | None
  height: int | None
  scene: scenes.Scene | None
  photo: real.RealPhoto | None
  dup_of: int | None
  edit: images.NearDupEdit | None
  keep: float  # truncated image / truncated tar: share of the image bytes kept
  byte_seed: int
  objects: tuple[dict, ...]
  caption_from: int | None = None  # mismatched pair: the example whose caption this one carries

  @property
  def is_real(self) -> bool:
    return self.photo is not None

  @property
  def mismatched(self) -> bool:
    return self.caption_from is not None


@dataclasses.dataclass(frozen=True)
class SamplePlan:
  seed: int
  shard_size: int
  num_shards: int
  examples: tuple[ExamplePlan, ...]

  def shard_examples(self, shard: int) -> tuple[ExamplePlan, ...]:
    return self.examples[shard * self.shard_size:(shard + 1) * self.shard_size]


def resolve_rates(rates: Mapping[str, float] | None) -> dict[str, float]:
  """Default rates overridden by `rates`; names are defect names, values shares of examples."""
  out = dict(defects.DEFAULT_RATES)
  for name, rate in (rates or {}).items():
    if name not in defects.DEFAULT_RATES:
      raise ValueError(f"no rate for {name!r}; rates exist for {', '.join(defects.DEFAULT_RATES)}")
    if not 0.0 <= rate <= 1.0:
      raise ValueError(f"rate of {name} must be in [0, 1], got {rate}")
    out[name] = float(rate)
  if sum(out.values()) > 0.9:
    raise ValueError(f"defect rates add up to {sum(out.values()):.2f}; keep them under 0.9")
  return out


def _assign_defects(
    rng: np.random.Generator, n: int, rates: dict[str, float], fixed: dict[int, str]
) -> list[str]:
  """Exact counts (rate x n, rounded) at random positions, so rates hold in small samples too."""
  out = [defects.NONE] * n
  for i, d in fixed.items():
    out[i] = d
  free = [i for i in range(n) if i not in fixed]
  order = [free[int(i)] for i in rng.permutation(len(free))]
  pos = 0
  for name, rate in rates.items():
    count = min(int(round(rate * n)), len(order) - pos)
    for i in order[pos:pos + count]:
      out[i] = name
    pos += count
  # A duplicate needs a clean example before it: swap early ones with a later clean one.
  seen_clean = False
  for i in range(n):
    if out[i] in (defects.EXACT_DUP, defects.NEAR_DUP) and not seen_clean:
      j = next((j for j in range(i + 1, n) if out[j] == defects.NONE and j not in fixed), None)
      if j is None:
        out[i] = defects.NONE
      else:
        out[i], out[j] = defects.NONE, out[i]
    seen_clean = seen_clean or (out[i] == defects.NONE and i not in fixed)
  return out


def _near_dup_edit(rng: np.random.Generator, fmt: str, quality: int) -> images.NearDupEdit:
  kind = defects.NEAR_DUP_KINDS[int(rng.integers(len(defects.NEAR_DUP_KINDS)))]
  if kind == "reencode":
    if fmt == "jpeg" and rng.random() < 0.5:
      step = int(rng.integers(10, 26))
      q = quality - step if quality - step >= 40 else quality + step
      return images.NearDupEdit(kind, "jpeg", min(q, 98))
    other = [f for f in images.FORMATS if f != fmt]
    return images.NearDupEdit(kind, other[int(rng.integers(len(other)))], int(rng.integers(60, 96)))
  if kind == "resize":
    return images.NearDupEdit(kind, fmt, quality, scale=float(rng.uniform(0.5, 0.9)))
  # Up to 3% per side: 5% crops move imagehash's phash by more than 8 bits one time in five.
  sides = rng.uniform(0.0, _MAX_CROP, 4)
  sides[int(rng.integers(4))] = rng.uniform(0.01, _MAX_CROP)  # at least one side visibly cut
  return images.NearDupEdit(kind, fmt, quality, crop=tuple(float(s) for s in sides))


def _quality(rng: np.random.Generator, fmt: str) -> int:
  if fmt == "jpeg":
    return int(rng.integers(60, 96))
  if fmt == "webp":
    return int(rng.integers(60, 91))
  return 0


def _url(rng: np.random.Generator, ext: str) -> str:
  host = _HOSTS[int(rng.integers(len(_HOSTS)))]
  folder = _DIRS[int(rng.integers(len(_DIRS)))]
  slug = "".join("abcdefghijklmnopqrstuvwxyz0123456789"[int(c)] for c in rng.integers(36, size=12))
  return f"https://{host}/{folder}/{slug}.{ext}"


def _page_lang(rng: np.random.Generator, lang: str | None) -> str | None:
  if rng.random() >= _PAGE_LANG_SHARE:
    return None
  if lang is not None and rng.random() >= _PAGE_LANG_MISMATCH:
    return lang
  while True:  # a page in another language than the caption (or any, without caption)
    other = captions.random_language(rng)
    if other != lang:
      return other


def plan_sample(
    num_examples: int,
    seed: int,
    shard_size: int = 100,
    rates: Mapping[str, float] | None = None,
    real_photos: Sequence[real.RealPhoto] = (),
    truncated_tar: bool = True,
) -> SamplePlan:
  """Decides every example of a sample from `seed`; pure (reads no files, writes none).

  Real photos go in as clean examples (at most a quarter of the sample). The truncated
  tar, when on and there are at least two shards, is the last example of the last shard.
  """
  if num_examples < 1 or shard_size < 1:
    raise ValueError("num_examples and shard_size must be >= 1")
  rng = np.random.default_rng(seed)
  rates = resolve_rates(rates)
  n = num_examples
  num_shards = math.ceil(n / shard_size)
  fixed: dict[int, str] = {}
  if truncated_tar and num_shards >= 2:
    fixed[n - 1] = defects.TRUNCATED_TAR
  slots = [i for i in range(n) if i not in fixed]
  n_real = min(len(real_photos), len(slots) // 4)
  real_at: dict[int, real.RealPhoto] = {}
  if n_real:
    where = sorted(int(i) for i in rng.choice(slots, n_real, replace=False))
    photos = [real_photos[int(i)] for i in rng.permutation(len(real_photos))[:n_real]]
    real_at = dict(zip(where, photos))
    fixed.update({i: defects.NONE for i in real_at})
  kinds = _assign_defects(rng, n, rates, fixed)

  # Originals of duplicates: earlier clean synthetic examples.
  dup_of: dict[int, int] = {}
  clean: list[int] = []
  for i, d in enumerate(kinds):
    if d in (defects.EXACT_DUP, defects.NEAR_DUP):
      dup_of[i] = clean[int(rng.integers(len(clean)))]
    elif d == defects.NONE and i not in real_at:
      clean.append(i)
  big = {dup_of[i] for i in dup_of if kinds[i] == defects.NEAR_DUP}

  examples: list[ExamplePlan] = []
  for i, defect in enumerate(kinds):
    shard, offset = divmod(i, shard_size)
    examples.append(_plan_one(rng, i, shard, offset, defect, shard_size, real_at.get(i),
                              dup_of.get(i), i in big, examples))
  return SamplePlan(seed, shard_size, num_shards, tuple(examples))


def _plan_one(
    rng: np.random.Generator,
    i: int,
    shard: int,
    offset: int,
    defect: str,
    shard_size: int,
    photo: real.RealPhoto | None,
    dup_of: int | None,
    needs_big: bool,
    done: list[ExamplePlan],
) -> ExamplePlan:
  lang = captions.random_language(rng)
  orig = done[dup_of] if dup_of is not None else None
  edit = None
  quality = 0
  scene = None
  objects: tuple[dict, ...] = ()
  if photo is not None:
    image, fmt, width, height = "real", "jpeg", photo.width, photo.height
  elif orig is not None and defect == defects.EXACT_DUP:
    image, fmt, quality = "exact_dup", orig.image_format, orig.quality
    width, height = orig.width, orig.height
    scene, objects = orig.scene, orig.objects
  elif orig is not None:
    edit = _near_dup_edit(rng, orig.image_format, orig.quality)
    image, fmt, quality = "near_dup", edit.fmt, edit.quality
    width, height = edit.output_size(orig.width, orig.height)
    scene = orig.scene
    moved = [(o, edit.move_box(o["box"], orig.width, orig.height)) for o in orig.objects]
    objects = tuple(dict(o, box=box) for o, box in moved if box is not None)
  else:
    min_side = _NEAR_DUP_MIN_SIDE if needs_big else 1
    if defect == defects.TRUNCATED_IMAGE:
      min_side = _TRUNCATED_MIN_SIDE
    width, height = scenes.random_size(rng, min_side)
    scene = scenes.random_scene(rng, width, height, textured=defect == defects.TRUNCATED_IMAGE)
    objects = tuple(scenes.objects(scene))
    image = "render"
    if defect == defects.TRUNCATED_IMAGE:
      fmt = "jpeg" if rng.random() < 0.7 else "png"
    else:
      fmt = images.FORMATS[int(rng.choice(len(images.FORMATS), p=_FORMAT_WEIGHTS))]
    quality = _quality(rng, fmt)
  ext = images.EXTENSIONS[fmt]

  # Image defects replace the bytes; truth says what their header says.
  if defect == defects.CORRUPT_IMAGE:
    image, fmt, ext, width, height, objects = "corrupt", None, "jpg", None, None, ()
  elif defect == defects.DECOMPRESSION_BOMB:
    width, height = defects.BOMB_SIZES[int(rng.integers(len(defects.BOMB_SIZES)))]
    image, fmt, ext, objects = "bomb", "png", "png", ()
  elif defect == defects.MISSING_IMAGE:
    image, fmt, ext, width, height, objects = "none", None, None, None, None, ()

  # Captions.
  if photo is not None:
    lang, text = "en", photo.caption
  elif orig is not None and rng.random() < _SAME_CAPTION[defect]:
    lang, text = orig.lang, orig.caption
  else:
    text = captions.random_caption(rng, scene, lang)
  txt = None if text is None else text.encode("utf-8")
  json_has_caption, json_caption = True, text
  if defect == defects.INVALID_UTF8:
    txt = defects.invalid_utf8(text, rng)
    lang, text, json_caption = None, None, None
  elif defect == defects.EMPTY_CAPTION:
    lang, text = None, defects.empty_caption(rng)
    txt, json_caption = text.encode("utf-8"), text
  elif defect == defects.JUNK_CAPTION:
    lang, text = None, defects.junk_caption(rng)
    txt, json_caption = text.encode("utf-8"), text
  elif defect == defects.MISSING_CAPTION:
    lang, text, txt, json_has_caption, json_caption = None, None, None, False, None

  return ExamplePlan(
      index=i,
      key=example_key(shard, offset, shard_size),
      shard=shard,
      offset=offset,
      defect=defect,
      url=_url(rng, ext or "jpg"),
      lang=lang,
      caption=text,
      txt=txt,
      json_has_caption=json_has_caption,
      json_caption=json_caption,
      page_lang=_page_lang(rng, lang),
      image=image,
      image_format=fmt,
      ext=ext,
      quality=quality,
      width=width,
      height=height,
      scene=scene,
      photo=photo,
      dup_of=dup_of,
      edit=edit,
      keep=float(rng.uniform(0.3, 0.7)),
      byte_seed=int(rng.integers(2**31)),
      objects=objects,
  )
