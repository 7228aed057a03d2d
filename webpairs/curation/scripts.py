"""Writing systems of caption letters: the dominant script, and the languages each script admits.

One lookup table over the Basic Multilingual Plane maps a code point to a script id; a caption's
letters are counted per script with numpy (no per-character Python for non-ASCII text).
"""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np

# (name, code point ranges). Order is the id; 0 is "not a letter of a known script".
_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    # 0x250-0x2AF: IPA letters African and Azerbaijani orthographies use (ɛ ɔ ŋ ə ɓ ɗ)
    "Latn": ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x2AF), (0x1E00, 0x1EFF),
             (0x2C60, 0x2C7F), (0xA720, 0xA7FF), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A)),
    "Grek": ((0x370, 0x3FF), (0x1F00, 0x1FFF)),
    "Cyrl": ((0x400, 0x52F), (0x1C80, 0x1C8F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)),
    "Armn": ((0x531, 0x58F),),
    "Hebr": ((0x591, 0x5FF), (0xFB1D, 0xFB4F)),
    "Arab": ((0x600, 0x6FF), (0x750, 0x77F), (0x8A0, 0x8FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    "Syrc": ((0x700, 0x74F),),
    "Thaa": ((0x780, 0x7BF),),
    "Nkoo": ((0x7C0, 0x7FF),),
    "Deva": ((0x900, 0x97F), (0xA8E0, 0xA8FF)),
    "Beng": ((0x980, 0x9FF),),
    "Guru": ((0xA00, 0xA7F),),
    "Gujr": ((0xA80, 0xAFF),),
    "Orya": ((0xB00, 0xB7F),),
    "Taml": ((0xB80, 0xBFF),),
    "Telu": ((0xC00, 0xC7F),),
    "Knda": ((0xC80, 0xCFF),),
    "Mlym": ((0xD00, 0xD7F),),
    "Sinh": ((0xD80, 0xDFF),),
    "Thai": ((0xE00, 0xE7F),),
    "Laoo": ((0xE80, 0xEFF),),
    "Tibt": ((0xF00, 0xFFF),),
    "Mymr": ((0x1000, 0x109F), (0xAA60, 0xAA7F)),
    "Geor": ((0x10A0, 0x10FF), (0x1C90, 0x1CBF), (0x2D00, 0x2D2F)),
    "Hang": ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7AF), (0xD7B0, 0xD7FF)),
    "Ethi": ((0x1200, 0x139F), (0x2D80, 0x2DDF), (0xAB00, 0xAB2F)),
    "Cher": ((0x13A0, 0x13FF), (0xAB70, 0xABBF)),
    "Cans": ((0x1400, 0x167F), (0x18B0, 0x18FF)),
    "Khmr": ((0x1780, 0x17FF), (0x19E0, 0x19FF)),
    "Mong": ((0x1800, 0x18AF),),
    "Tfng": ((0x2D30, 0x2D7F),),
    "Kana": ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)),
    "Hani": ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)),
    "Yiii": ((0xA000, 0xA4CF),),
    # Scripts of languages the supplementary model knows (UDHR, CLDR): Coptic (with its letters in
    # the Greek block), Vai, Ol Chiki (Santali), Javanese, Tai Tham, Tai Viet, Tai Le.
    "Copt": ((0x2C80, 0x2CFF), (0x3E2, 0x3EF)),
    "Vaii": ((0xA500, 0xA63F),),
    "Olck": ((0x1C50, 0x1C7F),),
    "Java": ((0xA980, 0xA9DF),),
    "Lana": ((0x1A20, 0x1AAF),),
    "Tavt": ((0xAA80, 0xAADF),),
    "Tale": ((0x1950, 0x197F),),
    # Beyond the BMP (looked up only for astral code points): Adlam (Fulah), Chakma, Grantha
    # (Sanskrit), Osage, Hanifi Rohingya.
    "Adlm": ((0x1E900, 0x1E95F),),
    "Cakm": ((0x11100, 0x1114F),),
    "Gran": ((0x11300, 0x1137F),),
    "Osge": ((0x104B0, 0x104FF),),
    "Rohg": ((0x10D00, 0x10D3F),),
}
NAMES: tuple[str, ...] = ("",) + tuple(_RANGES)
_TABLE = np.zeros(0x10000, dtype=np.uint8)
_ASTRAL: list[tuple[int, int, int]] = []  # (lo, hi, id) of ranges beyond the BMP
for _i, _name in enumerate(NAMES[1:], start=1):
  for _lo, _hi in _RANGES[_name]:
    if _lo > 0xFFFF:
      _ASTRAL.append((_lo, _hi, _i))
    else:
      _TABLE[_lo : _hi + 1] = _i
_TABLE[0x2B0:0x370] = 0  # modifier letters and combining marks of Latin-range blocks
HAN_SUPPLEMENT = 0x20000
MIN_OTHER_SHARE = 0.2  # CJK extension B and above: Han outside the BMP

# Scripts only one language writes (in the label sets this package knows): the script decides.
SOLE_LANGUAGE = {
    "Grek": "el", "Armn": "hy", "Thaa": "dv", "Guru": "pa", "Gujr": "gu", "Taml": "ta", "Mlym": "ml",
    "Sinh": "si", "Thai": "th", "Laoo": "lo", "Hang": "ko", "Kana": "ja", "Khmr": "km", "Cher": "chr",
    "Mong": "mn", "Nkoo": "nqo", "Yiii": "ii",
}
# Scripts several languages write -> the language to say when no model label fits the script.
# (Odia, Telugu, Kannada, Myanmar, Canadian syllabics, Tifinagh and Syriac were sole until the
# supplement's training text showed Kuvi, Tulu, Shan, Mon, Ojibwe, Swampy Cree, Tachelhit,
# Assyrian in them.)
DEFAULT_LANGUAGE = {
    "Cyrl": "ru", "Arab": "ar", "Hebr": "he", "Deva": "hi", "Beng": "bn", "Geor": "ka", "Ethi": "am",
    "Tibt": "bo", "Hani": "zh", "Orya": "or", "Telu": "te", "Knda": "kn", "Mymr": "my", "Cans": "iu",
    "Tfng": "zgh", "Syrc": "syc",
}
# Fine codes written (also) in a script other than Latin; every other code is Latin-only.
_NON_LATIN = {
    "Cyrl": "ab av ba be bg bxr ce cv kbd kk krc kv ky lez mhr mk mn mrj myv os ru rue sah sr tg tt tyv uz"
            " udm uk xal",
    "Arab": "ar arz azb bal ckb fa glk ks ku lrc mzn pnb ps sd ug ur",
    "Hebr": "he yi lad",
    "Deva": "bh bho dty gom hi kok mai mr ne new sa doi hne",
    "Beng": "as bn bpy mni",
    "Geor": "ka xmf",
    "Ethi": "am ti byn gez tig wal",
    "Tibt": "bo dz",
    "Hani": "zh yue wuu",  # Han without kana: Chinese (Japanese text has kana)
}
# Languages that also write Latin (so Latin text may carry these labels).
_ALSO_LATIN = {"sr", "tt", "uz", "ku", "az", "kk", "mn"}
LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {}
for _script, _codes in _NON_LATIN.items():
  for _code in _codes.split():
    LANGUAGE_SCRIPTS[_code] = LANGUAGE_SCRIPTS.get(_code, frozenset()) | {_script}
for _script, _code in {**SOLE_LANGUAGE, **DEFAULT_LANGUAGE}.items():
  LANGUAGE_SCRIPTS[_code] = LANGUAGE_SCRIPTS.get(_code, frozenset()) | {_script}
LANGUAGE_SCRIPTS["ja"] = LANGUAGE_SCRIPTS["ja"] | {"Hani"}
for _code in _ALSO_LATIN:
  LANGUAGE_SCRIPTS[_code] = LANGUAGE_SCRIPTS.get(_code, frozenset()) | {"Latn"}
# The scripts each label of the supplementary LID model is written in, measured on its training
# text (benchmarks/lid_train_supplement.py writes the file): joined to the table above, so the
# supplement's Khakas or Ojibwe label counts in Cyrillic or syllabics, not as Latin-only.
MEASURED_SCRIPTS_FILE = pathlib.Path(__file__).resolve().parent / "data" / "lid_supplement_scripts.json"
for _code, _written in json.loads(MEASURED_SCRIPTS_FILE.read_text(encoding="utf-8")).items():
  if _written:
    LANGUAGE_SCRIPTS[_code] = LANGUAGE_SCRIPTS.get(_code, frozenset()) | frozenset(_written)


_LATN, _KANA, _HAN = NAMES.index("Latn"), NAMES.index("Kana"), NAMES.index("Hani")
# Text with no code point outside these is Latin when it has a letter: the fast path, no numpy.
_BEYOND_LATIN = re.compile("[^\x00-\u024f\u1e00-\u1eff\u2000-\u206f\u20a0-\u20bf]")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")


_LATIN_ONLY = frozenset(("Latn",))


def written_in(code: str) -> frozenset[str]:
  """The scripts language `code` (fine code) is written in; unknown codes are Latin-only."""
  return LANGUAGE_SCRIPTS.get(code, _LATIN_ONLY)


def writes(code: str, script: str) -> bool:
  """Whether language `code` (fine code) is written in `script`."""
  return script in written_in(code)


def dominant(text: str) -> tuple[str | None, float]:
  """(the text's script, its share of the text's letters); (None, 0.0) without letters.

  Kana beside Han is Japanese: Han letters count toward 'Kana' when any kana is present.
  Latin beside another script is mostly code, names or borrowed words ('객체들은 get_absolute_url()
  메소드가'), so the most frequent other script wins once it has `MIN_OTHER_SHARE` of the letters.
  """
  if not _BEYOND_LATIN.search(text):  # ASCII, Latin-1, Latin Extended, common punctuation
    return ("Latn", 1.0) if _LATIN_LETTER.search(text) else (None, 0.0)
  cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
  ids = _TABLE[np.minimum(cps, 0xFFFF)]
  astral = cps > 0xFFFF
  if astral.any():  # emoji are letters of no script; CJK extensions B+ are Han
    high = cps[astral]
    found = np.where((high >= HAN_SUPPLEMENT) & (high < 0x32000), _HAN, 0)
    for lo, hi, script_id in _ASTRAL:
      found = np.where((high >= lo) & (high <= hi), script_id, found)
    ids[astral] = found
  counts = np.bincount(ids, minlength=len(NAMES))
  counts[0] = 0
  kana, han = _KANA, _HAN
  if counts[kana]:
    counts[kana] += counts[han]
    counts[han] = 0
  total = int(counts.sum())
  if not total:
    return None, 0.0
  latin = _LATN
  other = counts.copy()
  other[latin] = 0
  best = int(other.argmax())
  if other[best] < MIN_OTHER_SHARE * total:
    best = latin
  return NAMES[best], float(counts[best]) / total
