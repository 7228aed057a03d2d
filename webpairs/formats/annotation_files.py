"""The annotation files `annotate` writes: ANN/annotations-*.parquet, one row per input example (kept and rejected
alike, never image bytes), and ANN/summary.json."""

from __future__ import annotations

import hashlib
import posixpath

import pyarrow as pa

from webpairs.formats import files

ANNOTATION_PREFIX = "annotations-"
SUMMARY_FILE = "summary.json"

# Column -> (arrow type, meaning). `annotate_batch` returns dicts with exactly these keys.
ANNOTATION_COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    "key": (pa.string(), "webdataset key (unique within a shard)"),
    "source": (pa.string(), "shard path the example came from"),
    "offset": (pa.int64(), "0-based position of the example in its shard"),
    "url": (pa.string(), "image URL from the .json member, if any"),
    "status": (pa.string(), "'ok' or the first reject reason (curation/reasons.py)"),
    "status_detail": (pa.string(), "human-readable detail for a reject, '' when ok"),
    "width": (pa.int32(), "image width from the header (null if unreadable)"),
    "height": (pa.int32(), "image height from the header (null if unreadable)"),
    "original_width": (pa.int32(), "width before img2dataset resized it (.json original_width), else `width`"),
    "original_height": (pa.int32(), "height before img2dataset resized it (.json original_height), else `height`"),
    "image_format": (pa.string(), "PIL format name lower-cased: jpeg, png, webp, ..."),
    "image_bytes": (pa.int64(), "size of the image member in bytes"),
    "sha256": (pa.string(), "hex sha256 of the image member's bytes"),
    "phash": (pa.string(), "64-bit DCT perceptual hash, 16 hex chars (imagehash layout)"),
    "dhash": (pa.string(), "64-bit difference hash, 16 hex chars (imagehash layout)"),
    # Crop-resistant near-duplicates (select's dedup.windows): the same hashes of the 3x3 windows of 90% of
    # each side of the content, centre first, then of its top-left and bottom-right windows of 75%
    # (curation/image.window_boxes; select's dedup.corners). Null where phash is, or annotated without
    # windows; format 6 wrote the 9 of the grid only, files of annotation format < 6 lack both columns.
    "window_phash": (pa.list_(pa.uint64()), "pHash of each of the 11 windows of the content (uint64, null: none)"),
    "window_dhash": (pa.list_(pa.uint64()), "dHash of each of the 11 windows of the content (uint64, null: none)"),
    # Width / height of that content: select links a pair found only through windows when the two are within
    # dedup.ASPECT_MAX_STEPS (a crop of <= 15% changes it by <= 1.18x). Null where phash is; added in format 6
    # after its first files, so format-6 files may lack it (select then skips the check).
    "content_aspect": (pa.float32(), "width / height of the content inside letterbox bars, as hashed (null: none)"),
    "caption": (pa.string(), "caption as given, decoded from UTF-8"),
    "caption_norm_hash": (pa.string(), "16 hex chars of blake2b-64 of the normalised caption"),
    "lang": (pa.string(), "coarse code (lid.fold) after reconciling LID with page_lang; 'und' when none or unsure (lid.py)"),
    "lang_score": (pa.float32(), "probability of `lid_lang` (fastText or CLD3), 1.0 when the script decides"),
    "lid_lang": (pa.string(), "fine language code from the caption (ISO 639-1, else 639-3: 'yue'); null without letters"),
    "page_lang": (pa.string(), "content language of the page, from the .json, if any"),
    "n_chars": (pa.int32(), "caption length in characters (ends stripped of whitespace)"),
    "n_words": (pa.int32(), "caption words (CJK/Thai characters count one each)"),
    "letter_ratio": (pa.float32(), "share of non-space characters that are letters (L*, M*)"),
    "digit_ratio": (pa.float32(), "share of non-space characters that are digits (N*)"),
    "symbol_ratio": (pa.float32(), "share of non-space characters that are punctuation/symbols (P*, S*)"),
    "upper_ratio": (pa.float32(), "share of letters that are upper case"),
    "has_url": (pa.bool_(), "caption contains a URL"),
    "has_html": (pa.bool_(), "caption contains HTML tags or entities"),
    "repetition_ratio": (pa.float32(), "1 - distinct words / words (0 = no repetition)"),
    # Balancing indicators (DESIGN §4), one entry per name in the file metadata's "indicators".
    "attr_s": (pa.list_(pa.bool_()), "sensitive attributes s found in the caption (null if no caption)"),
    "concept_y": (pa.list_(pa.bool_()), "concepts y found in the caption (null if no caption)"),
    # Region annotations (curation/regions.py): from the raw .json / parquet `regions`, or a detector's file.
    "regions": (pa.string(), "cleaned regions as a JSON list of {text, box: [ymin, xmin, ymax, xmax]}; null: none"),
    # img2dataset --save_additional_columns / DataComp: uid, similarity scores, ... (EXTRA_SKIP names the rest).
    "extra": (pa.string(), "the .json's other fields (DataComp uid, scores, ...) as a JSON object; null: none"),
}

# .json / parquet fields with a column of their own, or img2dataset bookkeeping: not `extra`.
EXTRA_SKIP = frozenset({
    "key", "url", "URL", "caption", "TEXT", "text", "page_lang", "regions", "status", "error_message",
    "width", "height", "original_width", "original_height", "exif", "sha256", "md5",
})

ANNOTATION_SCHEMA = pa.schema([pa.field(name, typ) for name, (typ, _) in ANNOTATION_COLUMNS.items()])


def annotations_glob(annotations_dir: str) -> str:
  return files.join(annotations_dir, f"{ANNOTATION_PREFIX}*.parquet")


def annotation_path(output_dir: str, shard_path: str) -> str:
  """Deterministic annotation file of a shard: its stem plus a hash of its full path."""
  stem = posixpath.basename(shard_path).split(".")[0]
  digest = hashlib.blake2b(shard_path.encode("utf-8"), digest_size=4).hexdigest()
  return files.join(output_dir, f"{ANNOTATION_PREFIX}{stem}-{digest}.parquet")
