"""The annotate pass per batch: one schema row per raw example, hashes and language ID batched."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
import contextlib
import dataclasses
import functools
import json
from typing import Any

import numpy as np

from webpairs.balancing import keywords
from webpairs.curation import hashes
from webpairs.curation import image
from webpairs.curation import lid as lid_lib
from webpairs.curation import reasons
from webpairs.curation import regions as regions_lib
from webpairs.curation import text
from webpairs.formats.raw import RawExample, image_extension
from webpairs.formats import annotation_files

_ORDER = {r: i for i, r in enumerate(reasons.ANNOTATE_REASONS)}
# Region counts `annotate_batch` adds to its `stats`: examples with regions, regions kept and
# dropped as malformed, examples whose regions came from a detector's file.
REGION_STATS = ("regions_examples", "regions_kept", "regions_dropped", "regions_replaced")


@dataclasses.dataclass(frozen=True)
class AnnotateConfig:
  """Limits of the annotate pass. Quality thresholds belong to `select`, not here."""

  # More pixels in the header than this: decompression_bomb, before any decoding.
  max_pixels: int = image.DEFAULT_MAX_PIXELS
  # Longer captions (characters, ends stripped): caption_too_long.
  max_caption_chars: int = text.DEFAULT_MAX_CAPTION_CHARS
  # Hash pixels are decoded at >= this many per side (0: full size, slower).
  hash_draft_size: int = image.DEFAULT_DRAFT_SIZE
  # PIL formats tried on image bytes; anything else is corrupt_image.
  image_formats: tuple[str, ...] = image.DEFAULT_FORMATS
  # Below this fastText probability a given page_lang overrides fastText.
  lid_min_score: float = lid_lib.DEFAULT_MIN_SCORE
  # Below this fastText probability (and without page_lang) `lang` is 'und'.
  lid_und_below: float = lid_lib.DEFAULT_UND_BELOW
  # The LID rules in use: it is in the resume fingerprint, so files from other rules are redone.
  lid_version: str = lid_lib.VERSION
  # Hashes of the content's windows (3x3 grid and 2 corners; window_phash/window_dhash): crop- and logo-resistant near-duplicates.
  windows: bool = True

  def __post_init__(self):
    image.check_formats(self.image_formats)
    if self.max_pixels <= 0 or self.max_caption_chars <= 0:
      raise ValueError(f"limits must be positive: {self}")


def empty_row(key: str, source: str, offset: int) -> dict[str, Any]:
  """A row with every column present: ids filled, status ok, everything else None."""
  row: dict[str, Any] = dict.fromkeys(annotation_files.ANNOTATION_COLUMNS)
  row.update(key=key, source=source, offset=offset, status=reasons.OK, status_detail="")
  return row


def row_for_read_error(
    key: str, source: str, offset: int, reason: str, detail: str = ""
) -> dict[str, Any]:
  """The row of an example a reader could not deliver at all (e.g. lost in a broken tar)."""
  row = empty_row(key, source, offset)
  row.update(status=reason, status_detail=detail or reason)
  return row


def summarize(statuses: Iterable[str]) -> dict[str, int]:
  """Count per status: every known status (zeros included, in reasons.py order), then others."""
  counts = dict.fromkeys(reasons.ALL_STATUSES, 0)
  for s in statuses:
    counts[s] = counts.get(s, 0) + 1
  return counts


def _clean_str(value: Any) -> str | None:
  """A JSON string field, or None; lone surrogates (from \\ud800 escapes) become U+FFFD."""
  if not isinstance(value, str):
    return None
  try:
    value.encode("utf-8")
    return value
  except UnicodeEncodeError:
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@dataclasses.dataclass
class _Work:
  """One example in flight: its row, the checks that failed so far, inputs for batched steps."""

  row: dict[str, Any]
  failures: dict[str, str] = dataclasses.field(default_factory=dict)
  read_error: str | None = None
  page_lang: str | None = None
  img: image.ImageInfo | None = None
  raw_regions: Any = None  # the .json's `regions`, as parsed
  original_size: tuple[Any, Any] = (None, None)  # the .json's original_width / original_height

  def fail(self, reason: str, detail: str) -> None:
    self.failures.setdefault(reason, detail)

  @contextlib.contextmanager
  def guard(self, reason: str) -> Iterator[None]:
    """An exception nobody foresaw (a bug, an input no test had) rejects this example only."""
    try:
      yield
    except Exception as e:
      self.fail(reason, f"unexpected {type(e).__name__}: {e}"[:200])


def _parse_json(w: _Work, data: bytes) -> dict[str, Any]:
  try:
    meta = json.loads(data)
  except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
    w.fail(reasons.INVALID_JSON, f"{type(e).__name__}: {e}"[:200])
    return {}
  if not isinstance(meta, dict):
    w.fail(reasons.INVALID_JSON, f"JSON {type(meta).__name__}, not an object")
    return {}
  return meta


def _read_caption(w: _Work, members: dict[str, bytes], meta: dict[str, Any]) -> str | None:
  """The caption text (.txt first, else the .json's "caption"), lossy if it is not valid UTF-8."""
  if "txt" in members:
    data = members["txt"]
    try:
      return text.decode_utf8(data)
    except UnicodeDecodeError as e:
      w.fail(reasons.INVALID_UTF8, text.utf8_error_detail(e))
      return data.decode("utf-8", "replace")
  value = meta.get("caption")
  if value is None:
    w.fail(reasons.MISSING_CAPTION, "no .txt member and no caption in the .json")
    return None
  if not isinstance(value, str):
    w.fail(reasons.MISSING_CAPTION, f".json caption is a {type(value).__name__}, not a string")
    return None
  clean = _clean_str(value)
  if clean != value:
    w.fail(reasons.INVALID_UTF8, ".json caption has lone surrogate escapes")
  return clean


def _read_meta(w: _Work, members: dict[str, bytes]) -> dict[str, Any]:
  meta = _parse_json(w, members["json"]) if "json" in members else {}
  w.row["url"] = _clean_str(meta.get("url"))
  w.page_lang = w.row["page_lang"] = _clean_str(meta.get("page_lang"))
  w.raw_regions = meta.get("regions")
  w.original_size = (meta.get("original_width"), meta.get("original_height"))
  extra = {k: v for k, v in meta.items() if k not in annotation_files.EXTRA_SKIP}
  if extra:
    w.row["extra"] = _clean_str(json.dumps(extra, ensure_ascii=False, sort_keys=True, default=str))
  return meta


def _size(value: Any) -> int | None:
  """A positive pixel count from the .json (int, or a whole float), else None."""
  if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
    return None
  return int(value) if value > 0 and value == int(value) and value < 2**31 else None


def _check_image(w: _Work, members: dict[str, bytes], config: AnnotateConfig, skipped: list[str]) -> None:
  ext = image_extension(members)
  if ext is None:
    have = ", ".join(sorted(members)) or "none"
    not_read = f"; not read: {', '.join(skipped)}" if skipped else ""
    w.fail(reasons.MISSING_IMAGE, f"no image member (members: {have}{not_read})"[:200])
    return
  info = image.inspect_image(
      members[ext], config.max_pixels, config.hash_draft_size, config.image_formats, windows=config.windows
  )
  # img2dataset resizes (and by default letterboxes) images: size filters judge the original.
  ow, oh = (_size(v) for v in w.original_size)
  if ow is None or oh is None:
    ow, oh = info.width, info.height
  w.row.update(
      width=info.width, height=info.height, original_width=ow, original_height=oh,
      image_format=info.format, image_bytes=info.n_bytes, sha256=info.sha256,
  )
  if info.status == reasons.OK:
    w.img = info
  else:
    w.fail(info.status, info.detail)


def _describe_caption(w: _Work, caption: str, config: AnnotateConfig) -> None:
  # The length check comes before any per-character work: features, hashes, language ID and
  # keyword indicators of a 50 MiB caption would cost minutes and gigabytes.
  n_chars = len(caption.strip()) if len(caption) > config.max_caption_chars else 0
  if n_chars > config.max_caption_chars:
    w.row.update(caption=caption[:config.max_caption_chars], n_chars=n_chars)
    w.fail(reasons.CAPTION_TOO_LONG, f"{n_chars} characters > limit {config.max_caption_chars} "
           f"(the caption column keeps the first {config.max_caption_chars})")
    return
  w.row["caption"] = caption
  w.row["caption_norm_hash"] = text.caption_norm_hash(caption)
  w.row.update(vars(text.text_features(caption)))
  reject = text.caption_reject(caption, config.max_caption_chars)
  if reject is not None:
    w.fail(*reject)


def _start(ex: RawExample, config: AnnotateConfig) -> _Work:
  """Everything per example that is not batched: members, JSON, image checks, caption checks.

  Each stage is guarded on its own: an unexpected exception becomes the stage's reason
  and the later stages still run.
  """
  w = _Work(row=empty_row(ex.key, ex.source, ex.offset), read_error=ex.read_error)
  if ex.read_error:
    w.fail(ex.read_error, ex.read_detail or ex.read_error)
  members = ex.members or {}
  meta, caption = {}, None
  with w.guard(reasons.INVALID_JSON):
    meta = _read_meta(w, members)
  if ex.read_error != reasons.DOWNLOAD_FAILED:  # no image to miss: img2dataset never got one
    with w.guard(reasons.CORRUPT_IMAGE):
      _check_image(w, members, config, ex.skipped)
  with w.guard(reasons.INVALID_UTF8):
    caption = _read_caption(w, members, meta)
  if caption is not None:
    with w.guard(reasons.JUNK_CAPTION):
      _describe_caption(w, caption, config)
  return w


def _window_hashes(infos: list[image.ImageInfo]) -> tuple[np.ndarray, np.ndarray]:
  """(n, N_WINDOWS) uint64 pHashes and dHashes of the images' windows, one vectorised call each."""
  k = image.N_WINDOWS
  p = hashes.phash_low_batch(np.concatenate([i.window_phash_pixels for i in infos])).reshape(len(infos), k)
  d = hashes.dhash_batch(np.concatenate([i.window_dhash_pixels for i in infos])).reshape(len(infos), k)
  return p, d


def _hash_images(works: list[_Work]) -> None:
  """pHash and dHash of every decoded image (and of its windows) in one vectorised call each."""
  todo = [w for w in works if w.img is not None]
  if not todo:
    return
  windowed = all(w.img.window_phash_pixels is not None for w in todo)
  try:
    ph = hashes.to_hex(hashes.phash_batch(np.stack([w.img.phash_pixels for w in todo])))
    dh = hashes.to_hex(hashes.dhash_batch(np.stack([w.img.dhash_pixels for w in todo])))
    wp, wd = _window_hashes([w.img for w in todo]) if windowed else (None, None)
    wins = [(p.tolist(), d.tolist()) for p, d in zip(wp, wd)] if windowed else [(None, None)] * len(todo)
  except Exception:  # one odd array must not cost the batch its hashes: go one by one
    ph, dh, wins = [], [], []
    for w in todo:
      try:
        p = hashes.to_hex(hashes.phash_batch(w.img.phash_pixels[None]))
        d = hashes.to_hex(hashes.dhash_batch(w.img.dhash_pixels[None]))
        win = (None, None)
        if w.img.window_phash_pixels is not None:
          p_w, d_w = _window_hashes([w.img])
          win = (p_w[0].tolist(), d_w[0].tolist())
        ph += p
        dh += d
        wins.append(win)
      except Exception as e:
        w.fail(reasons.TRUNCATED_IMAGE, f"hashing failed: {type(e).__name__}: {e}"[:200])
        ph.append(None)
        dh.append(None)
        wins.append((None, None))
  for w, p, d, (p_w, d_w) in zip(todo, ph, dh, wins):
    w.row["phash"], w.row["dhash"] = p, d
    w.row["window_phash"], w.row["window_dhash"] = p_w, d_w
    w.row["content_aspect"] = w.img.content_aspect if p is not None else None


def _identify_languages(
    works: list[_Work], lid_model: lid_lib.LanguageIdentifier, min_score: float, und_below: float
) -> None:
  """fastText over all captions of the batch, then `lang` from fastText and page_lang."""
  todo = [w for w in works if w.row["caption"] is not None]
  try:
    preds = lid_model.predict([w.row["caption"] for w in todo])
  except Exception:
    preds = []
    for w in todo:
      try:
        preds += lid_model.predict([w.row["caption"]])
      except Exception as e:
        w.fail(reasons.JUNK_CAPTION, f"language ID failed: {type(e).__name__}: {e}"[:200])
        preds.append((None, None))
  for w, (code, score) in zip(todo, preds):
    w.row["lid_lang"] = code
    w.row["lang_score"] = score if code is not None else None
  for w in works:
    w.row["lang"] = lid_lib.reconcile_lang(
        w.row["lid_lang"], w.row["lang_score"], w.page_lang, min_score, und_below
    )


def _find_indicators(works: list[_Work], annotator: keywords.AttributeAnnotator) -> None:
  """Balancing attributes and concepts of every captioned row, from caption and reconciled `lang`."""
  todo = [w for w in works if w.row["caption"] is not None]
  if not todo:
    return
  try:
    s, y = annotator.annotate_batch([w.row["caption"] for w in todo], [w.row["lang"] for w in todo])
    found = list(zip(s.astype(bool).tolist(), y.astype(bool).tolist()))
  except Exception:  # one odd caption must not cost the batch its indicators: go one by one
    found = []
    for w in todo:
      try:
        s, y = annotator.annotate_batch([w.row["caption"]], [w.row["lang"]])
        found.append((s[0].astype(bool).tolist(), y[0].astype(bool).tolist()))
      except Exception as e:
        # Rejected, not left null: a null row would count as "no attribute" in balancing.
        w.fail(reasons.JUNK_CAPTION, f"indicators failed: {type(e).__name__}: {e}"[:200])
        found.append((None, None))
  for w, (s_row, y_row) in zip(todo, found):
    w.row["attr_s"], w.row["concept_y"] = s_row, y_row


def _clean_regions(works: list[_Work], replace: Mapping[tuple[int, str], Any] | None,
                   stats: dict[str, int]) -> None:
  """`regions` of every row: the .json's or the detector's (`replace`), cleaned; never a reject."""
  for w in works:
    ident = (w.row["offset"], w.row["key"])
    raw = w.raw_regions
    if replace is not None and ident in replace:
      raw = replace[ident]
      stats["regions_replaced"] += 1
    try:
      kept, dropped = regions_lib.clean_regions(raw)
    except Exception:  # a bug or an input no test had: this example's regions only are lost
      kept, dropped = [], 1
    w.row["regions"] = regions_lib.to_json(kept)
    stats["regions_examples"] += bool(kept)
    stats["regions_kept"] += len(kept)
    stats["regions_dropped"] += dropped


@functools.cache
def default_annotator() -> keywords.KeywordAnnotator:
  """The shipped keyword lexicon, built once per process."""
  return keywords.KeywordAnnotator()


def _finish(w: _Work) -> dict[str, Any]:
  """Status = the read error, else the first failed check in reasons.py order."""
  if not w.failures:
    return w.row
  status = w.read_error or min(w.failures, key=lambda r: _ORDER.get(r, -1))
  others = [r for r in w.failures if r != status]
  detail = w.failures[status]
  if others:
    detail += f" [also: {', '.join(sorted(others, key=lambda r: _ORDER.get(r, -1)))}]"
  w.row.update(status=status, status_detail=detail)
  return w.row


def annotate_batch(
    examples: list[RawExample],
    lid: lid_lib.LanguageIdentifier,
    config: AnnotateConfig | None = None,
    annotator: keywords.AttributeAnnotator | None = None,
    *,
    regions: Mapping[tuple[int, str], Any] | None = None,
    stats: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
  """One annotation row per example, in order, with exactly annotation_files.ANNOTATION_COLUMNS as keys.

  Never raises because of an example's content: anything that goes wrong becomes that
  example's reject reason. Rejected rows still carry whatever could be computed.
  `annotator` gives `attr_s` / `concept_y` (default: the shipped keyword lexicon).
  `regions`: (offset, key) -> regions from a detector; they replace the .json's `regions`
  of the examples they name. Malformed regions are dropped, never a reject; `stats`, when
  given, gets the REGION_STATS counts added.
  """
  config = config or AnnotateConfig()
  counts = dict.fromkeys(REGION_STATS, 0)
  works = [_start(ex, config) for ex in examples]
  _clean_regions(works, regions, counts)
  _hash_images(works)
  _identify_languages(works, lid, config.lid_min_score, config.lid_und_below)
  _find_indicators(works, annotator or default_annotator())
  for w in works:
    w.img = None  # drop the pixel arrays early
  if stats is not None:
    for name, n in counts.items():
      stats[name] = stats.get(name, 0) + n
  return [_finish(w) for w in works]


def precheck(example: RawExample, config: AnnotateConfig | None = None) -> tuple[str, str | None]:
  """(status, caption) from annotate's per-example checks only (members, JSON, image header, caption).

  For jobs that need to know which examples annotate rejects without its batched stages
  (hashes, language ID, indicators): `curate score` gives those a null score.
  """
  row = _finish(_start(example, config or AnnotateConfig()))
  return row["status"], row["caption"]
