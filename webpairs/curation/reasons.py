"""Reject reasons of the annotate pass: every input example gets `ok` or exactly one of these.

The order of `ANNOTATE_REASONS` is the order in which checks run: the first failing
check names the row's status.
"""


OK = "ok"

# Shard-level problems, found by the readers.
TRUNCATED_TAR = "truncated_tar"  # the tar ends inside this example's members
BROKEN_TAR = "broken_tar"  # a tar header is unreadable; the rest of the shard is lost
OVERSIZED_MEMBER = "oversized_member"  # a member is larger than the reader's limit (not read)
UNREADABLE_SHARD = "unreadable_shard"  # the shard file cannot be opened or is not a tar/parquet
DOWNLOAD_FAILED = "download_failed"  # img2dataset tried the URL and failed (its parquet's status/error_message)
# Members.
INVALID_JSON = "invalid_json"  # the .json member is not a JSON object
MISSING_IMAGE = "missing_image"  # no image member (jpg, jpeg, png, webp, gif, bmp, tif, tiff)
MISSING_CAPTION = "missing_caption"  # no .txt member and no "caption" in the .json
INVALID_UTF8 = "invalid_utf8"  # the caption bytes are not valid UTF-8
# Image.
DECOMPRESSION_BOMB = "decompression_bomb"  # header claims more pixels than allowed
CORRUPT_IMAGE = "corrupt_image"  # bytes are not an image PIL can identify
TRUNCATED_IMAGE = "truncated_image"  # header fine, pixel data cut short or broken
# Caption.
EMPTY_CAPTION = "empty_caption"  # nothing but whitespace
CAPTION_TOO_LONG = "caption_too_long"  # longer than the annotate limit (characters)
JUNK_CAPTION = "junk_caption"  # no letters at all, or only a URL / file name

ANNOTATE_REASONS = (
    TRUNCATED_TAR,
    BROKEN_TAR,
    OVERSIZED_MEMBER,
    UNREADABLE_SHARD,
    DOWNLOAD_FAILED,
    INVALID_JSON,
    MISSING_IMAGE,
    MISSING_CAPTION,
    INVALID_UTF8,
    DECOMPRESSION_BOMB,
    CORRUPT_IMAGE,
    TRUNCATED_IMAGE,
    EMPTY_CAPTION,
    CAPTION_TOO_LONG,
    JUNK_CAPTION,
)

ALL_STATUSES = (OK,) + ANNOTATE_REASONS
