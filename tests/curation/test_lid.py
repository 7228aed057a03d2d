"""Language ID: fastText lid.176 predictions, page_lang normalisation and reconciliation, accuracy."""

from __future__ import annotations

import json
import math
import os
import pickle
from unittest import mock

import pytest

from webpairs.curation import english_words, lid, scripts

LANGS = ("de", "en", "es", "id", "ja", "ru", "tr", "zh")


@pytest.fixture(scope="module")
def identifier() -> lid.LanguageIdentifier:
  return lid.LanguageIdentifier()


def test_model_ships_in_the_wheel():
  assert os.path.basename(lid.default_model_path()) == "lid.176.ftz"
  assert os.path.getsize(lid.default_model_path()) > 500_000


def test_supplement_ships_as_package_data():
  path = lid.supplement_model_path()
  assert os.path.basename(path) == "lid_supplement.ftz"
  assert 500_000 < os.path.getsize(path) < 5_000_000


def test_supplement_predict_top_k(identifier):
  got = identifier.supplement_predict("Ein schwarzer Hund rennt über die Wiese\n", 3)
  assert len(got) == 3 and got[0][1] == "de"
  assert all(0.0 <= p <= 1.0 for p, _ in got)
  assert [p for p, _ in got] == sorted((p for p, _ in got), reverse=True)


def test_predicts_codes_and_probabilities(identifier):
  got = identifier.predict([
      "A black and white dog is running through the grass.",
      "Ein schwarzer Hund rennt über die Wiese.",
      "黒と白の犬が芝生の上を走っている。",
      "Черная собака бежит по траве.",
  ])
  assert [code for code, _ in got] == ["en", "de", "ja", "ru"]
  assert all(0.5 < p <= 1.0 for _, p in got)


def test_awkward_inputs(identifier):
  got = identifier.predict([
      "", "  \n\t", "Ein Hund\nrennt über\r\ndie Wiese", "a\x00b", "\ud800 bonjour mes amis",
      "x" * 100_000,
  ])
  assert got[0] == (None, 0.0) and got[1] == (None, 0.0)
  assert got[2][0] == "de"  # newlines would make fastText refuse the line
  assert got[3][0] is not None
  assert got[4][0] == "fr"  # a lone surrogate does not break the binding
  assert len(got) == 6


def test_loads_lazily_and_pickles():
  ident = lid.LanguageIdentifier(max_chars=50)
  assert ident._model is None
  clone = pickle.loads(pickle.dumps(ident))
  assert clone._model is None and clone._supplement is None and clone.max_chars == 50
  assert clone.supplement_weight == lid.DEFAULT_SUPPLEMENT_WEIGHT
  assert clone.predict(["Buenos días a todos"])[0][0] == "es"
  assert clone._model is not None


@pytest.mark.parametrize("raw,code", [
    ("en-US", "en"), ("EN_gb", "en"), ("zh-Hant-TW", "zh"), ("fr, en;q=0.8", "fr"), ("iw", "he"),
    ("in", "id"), ("nb-NO", "no"), ("", None), (None, None), ("*", None), ("x-default", None),
    ("12", None),
])
def test_normalize_lang(raw, code):
  assert lid.normalize_lang(raw) == code


@pytest.mark.parametrize("lid_lang,score,page,lang", [
    ("en", 0.9, "de", "en"),  # confident fastText wins
    ("en", 0.5, "de", "en"),  # the threshold is inclusive
    ("en", 0.3, "de-DE", "de"),  # unsure fastText, page language given: the page wins
    ("en", 0.3, None, "en"),  # unsure but alone
    ("en", 0.3, "x-default", "en"),  # an unusable page language counts as none
    ("ru", 0.22, None, "und"),  # below und_below (0.25) a label is a guess: emoji-only captions
    ("ru", 0.22, "fr", "fr"),  # ... and a page language wins over a guess
    (None, None, "pt-BR", "pt"),  # no caption: the page is all there is
    (None, None, None, "und"),  # nothing at all: 'und', as selections and quotas say
])
def test_reconcile_lang(lid_lang, score, page, lang):
  assert lid.reconcile_lang(lid_lang, score, page) == lang


def test_reconcile_threshold_is_configurable():
  assert lid.reconcile_lang("en", 0.7, "de", min_score=0.8) == "de"
  assert lid.reconcile_lang("en", 0.25, None, und_below=0.2) == "en"


def test_emoji_only_caption_is_und(identifier):
  (code, score), = identifier.predict(["\U0001F600\U0001F389\U0001F525"])
  assert (code, score) == (None, 0.0)  # no letters: nothing to identify (lid.176 guesses 'en')
  assert lid.reconcile_lang(code, score, None) == "und"
  assert lid.reconcile_lang(code, score, "fr") == "fr"


def test_accuracy_on_human_captions(shared_data, identifier):
  per_lang = {}
  for lang in LANGS:
    path = shared_data / "real_captions_multilingual" / f"{lang}.test.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    captions = [json.loads(line)["sentences"][0] for line in lines]
    captions = [c for c in captions if c.strip()]  # two rows hold an empty string
    preds = identifier.predict(captions)
    per_lang[lang] = sum(lid.fold(code) == lang for code, _ in preds) / len(captions)
  print("LID accuracy per language:", {k: round(v, 4) for k, v in per_lang.items()})
  # Measured (lid.176 + supplement mix, supplement >= 0.5, English from 0.3): de .99 en 1.0 es .99
  # id .92 ja 1.0 ru .98 tr 1.0 zh .98, macro .983 (lid.176 + CLD3 before: en .9985 id .8424 (-> ms) zh .968, macro .973).
  assert sum(per_lang.values()) / len(per_lang) >= 0.95
  assert min(per_lang.values()) >= 0.8


@pytest.mark.parametrize("text,code", [
    ("😀🎉🔥", None),  # lid.176 alone says 'en' at 0.12: no letters, no language
    ("12 345 !!", None),
    ("객체들은 get_absolute_url() 메소드가 없습니다.", "ko"),  # Hangul decides despite the Latin code
    # A Cyrillic caption gets a Cyrillic-script language. ('IPv4 или IPv6' alone became Bosnian in
    # lid.VERSION 6: its training text measured Bosnian Cyrillic, and 'или' is Bosnian too.)
    ("IPv4 или IPv6 адрес сервера", "ru"),
    ("Αντιστοίχιση strings σε strings/nulls", "el"),
    ("一只狗在草地上跑", "zh"),  # Han without kana is Chinese (lid.176 alone says 'ja')
    ("Ingiza anwani ya barua pepe halali", "sw"),  # lid.176 unsure (0.47): the supplement is sure
])
def test_script_rules_and_mix(identifier, text, code):
  got, score = identifier.predict([text])[0]
  assert got == code
  assert (score == 0.0) if code is None else (score >= 0.35)


@pytest.mark.parametrize("text", [
    # English web alt-texts (img2dataset_test_10000.parquet); the previous default says 'en' too.
    "Funny bee cartoon", "Interior of wooden sauna.", "Compensatory mechanisms", "Thin Line Skull Labels",
    # The first supplement mix (no floor on its score, English skipped from 0.5) said cy/rm/sco here.
    "Dale Tiffany Alps Wall Sconce", "Classic 3d Wall Stickers", "Ion Orchard Reflections Art Print",
    "Patriotic Olympic Apparel", "Hammermill Colors Colored Paper",
])
def test_english_product_titles_stay_english(identifier, text):
  got, score = identifier.predict([text])[0]
  assert got == "en" and score >= lid.DEFAULT_UND_BELOW
  assert lid.LanguageIdentifier(supplement_weight=0.0).predict([text])[0][0] == "en"


@pytest.mark.parametrize("text,alone,code", [
    ("Yáʼátʼééh, shí éí Diné nishłį́", "hu", "nv"),  # Navajo
    ("Ta mee goll dys y thie marish my vraar", "nl", "gv"),  # Manx
    ("Bonjou, kijan ou ye? Mwen pral lekòl demen maten", "fr", "ht"),  # Haitian Creole
])
def test_supplement_knows_languages_lid176_lacks(identifier, text, alone, code):
  assert lid.LanguageIdentifier(script_rules=False).predict([text])[0][0] == alone
  got, score = identifier.predict([text])[0]
  assert got == code and score >= 0.5


@pytest.mark.parametrize("text,code", [
    ("Ingiza anwani ya barua pepe halali", "sw"),  # lid.176 unsure (0.47): CLD3 sure (1.00)
    ("Un can corre pola herba", "gl"),  # lid.176 says 'fr' at 0.34: CLD3 says 'gl' at 0.998
])
def test_cld3_second_opinion_without_supplement(text, code):
  previous = lid.LanguageIdentifier(supplement_weight=0.0)
  assert previous.ask_cld3_below == lid.DEFAULT_ASK_CLD3_BELOW
  got, score = previous.predict([text])[0]
  assert got == code and score >= 0.99
  assert previous._supplement is None  # never loaded


def test_script_rules_off_is_lid176_alone():
  alone = lid.LanguageIdentifier(script_rules=False)
  assert alone.predict(["😀🎉🔥"])[0][0] == "en"
  assert alone.predict(["Un can corre pola herba"])[0][0] == "fr"


@pytest.mark.parametrize("fine,coarse", [
    ("yue", "zh"), ("cmn", "zh"), ("wuu", "zh"), ("zh", "zh"), ("nb", "no"), ("nn", "nn"), ("arz", "ar"),
    ("ckb", "ku"), ("kmr", "ku"), ("pes", "fa"), ("fil", "tl"), ("iw", "he"), ("id", "id"), ("hr", "hr"),
    ("gsw", "gsw"), ("als", "sq"), ("zlm", "ms"), ("quy", "qu"), ("fuf", "ff"), ("ojb", "oj"), ("csw", "cr"),
    ("koi", "kv"), ("hau", "ha"), ("cat", "ca"), ("nob", "no"), ("ayr", "ay"), ("tgl", "tgl"), (None, None),
])
def test_fold(fine, coarse):
  assert lid.fold(fine) == coarse


def test_every_supplement_label_folds_to_a_two_letter_code_where_cldr_has_one():
  # A label such as 'hau' next to lid.176's 'ha' would split one language's quota in two.
  ident = lid.LanguageIdentifier()
  labels = {code for _, code in ident.supplement_predict("x\n", 1000)}
  labels |= {lid._fine(label) for _, label in ident._fasttext("x\n", 176)}
  assert len(labels) > 550
  for code in labels:
    coarse = lid.fold(code)
    assert lid.fold(coarse) == coarse, code  # folding is idempotent
    assert coarse not in lid._CLDR_ALIASES, (code, coarse)


def test_reconcile_folds_to_the_quota_code():
  assert lid.reconcile_lang("yue", 0.9, None) == "zh"
  # The page's language too: it would otherwise count apart from the label's coarse code.
  assert lid.reconcile_lang(None, None, "fil-PH") == lid.reconcile_lang("fil", 0.9, None) == "tl"
  assert lid.reconcile_lang("es", 0.3, "cat") == "ca"
  assert lid.reconcile_lang(None, None, "yue-Hant-HK") == "zh"
  assert lid.reconcile_lang("nb", 0.9, "de") == "no"


@pytest.mark.parametrize("text,alone,code", [
    ("ሰላም ከመይ ኣለኹም፧ ኣብ ገዛ ኣለኹ", "am", "ti"),  # Tigrinya: lid.176 says Amharic at 0.98
    ("ሰላም ነው? እንዴት ነህ? ዛሬ ወደ ገበያ እሄዳለሁ", "am", "am"),  # Amharic stays Amharic
    ("བཀྲ་ཤིས་བདེ་ལེགས། ང་བོད་པ་ཡིན།", "bo", "bo"),  # Tibetan stays Tibetan
])
def test_scripts_lid176_knows_one_language_of_always_ask_the_supplement(identifier, text, alone, code):
  assert lid.LanguageIdentifier(script_rules=False).predict([text])[0][0] == alone
  got, score = identifier.predict([text])[0]
  assert got == code and score >= 0.9


def test_always_ask_scripts_are_those_lid176_knows_one_language_of():
  alone = lid.LanguageIdentifier(script_rules=False)
  labels = {lid._fine(label) for _, label in alone._fasttext("x\n", 176)}
  one_known = set()
  for script in scripts.DEFAULT_LANGUAGE:  # the scripts several languages write
    writers = {code for code, written in scripts.LANGUAGE_SCRIPTS.items() if script in written}
    if len(writers) > 1 and len(writers & labels) == 1:
      one_known.add(script)
  assert one_known == set(lid.ALWAYS_ASK_SCRIPTS) == {"Ethi", "Tibt", "Orya", "Telu", "Knda", "Mymr"}


@pytest.mark.parametrize("text,alone,code", [
    # UDHR clauses of the evaluation's tune half. Talysh: lid.176 says Azerbaijani at 0.996.
    ("Hiç kəsi bə konsə qılə assosiasiya uzvəti məcbur karde əbıni", "az", "tly"),
    ("kama theri thë pë wãhã hirou", "sq", "guu"),  # Yanomamö: lid.176 says Albanian at 0.996
    ("Kulli num to’nnah taniimik madqâ gamsa geyaamih gar le", "fr", "aa"),  # Afar: lid.176 0.126
])
def test_a_sure_supplement_names_languages_lid176_cannot(identifier, text, alone, code):
  assert lid.LanguageIdentifier(script_rules=False).predict([text])[0][0] == alone
  got, score = identifier.predict([text])[0]
  assert got == code and score >= lid.SUPPLEMENT_SURE
  # lid.VERSION 5's rule (lid.176 alone from 0.9, the supplement asked only from 0.13) missed these.
  old = lid.LanguageIdentifier()
  with mock.patch.object(lid, "SKIP_SUPPLEMENT_ABOVE", {None: 0.9, "en": 0.4}), \
       mock.patch.object(lid, "SUPPLEMENT_SURE", 1.1), _without_english_word_test():
    assert old.predict([text])[0][0] != code


def test_a_sure_label_in_a_script_of_known_languages_only_skips_the_supplement(shared_data, identifier):
  # Every language the supplement writes in Han or Georgian is one lid.176 knows: where lid.176 is
  # at least SUPPLEMENT_CERTAIN sure, nothing the supplement says could stand.
  assert {"Hani", "Geor"}.isdisjoint(identifier.overrulable_scripts)  # computed before the count below
  assert {"Latn", "Cyrl", "Arab", "Deva", "Ethi"} <= identifier.overrulable_scripts
  path = shared_data / "real_captions_multilingual" / "zh.test.jsonl"
  captions = [json.loads(line)["sentences"][0] for line in path.read_text(encoding="utf-8").splitlines()[:300]]
  sure = 0
  for caption in captions:
    line = identifier._clean(caption)
    p, label = identifier._fasttext(line, 1)[0]
    script = scripts.dominant(line)[0]
    sure += script == "Hani" and p >= lid.SUPPLEMENT_CERTAIN and scripts.writes(lid._fine(label), script)
  assert sure > 100  # of 300
  asking = lid.LanguageIdentifier()
  asking._overrulable_scripts = frozenset(s for w in scripts.LANGUAGE_SCRIPTS.values() for s in w)
  with mock.patch.object(identifier, "supplement_predict", wraps=identifier.supplement_predict) as asked:
    assert identifier.predict(captions) == asking.predict(captions)
  assert asked.call_count == len(captions) - sure


def test_sure_english_keeps_its_label():
  # An English alt-text the supplement calls Yimchungru ('ymm') at 0.87: lid.176 is 0.99 sure of English.
  text = "How happy they became with H2O/mruby and the future of HTTP @i110, @kazuho"
  ident = lid.LanguageIdentifier()
  assert ident.supplement_predict(ident._clean(text))[0][1] == "ymm"
  assert ident.predict([text])[0][0] == "en"


@pytest.mark.parametrize("text,code", [
    # UDHR clauses of the evaluation's tune half; lid.176 calls them English at 0.56 and 0.65.
    ("Ta cairys ec deiney as mraane dy eash lane", "gv"),  # Manx
    ("Men and wemen o ful age", "sco"),  # Scots
])
def test_a_near_certain_supplement_decides_below_lid176s_own_bar(identifier, text, code):
  line = identifier._clean(text)
  lid176_p, _ = identifier._fasttext(line, 1)[0]
  assert lid.ENGLISH_SURE > lid176_p > lid.SKIP_SUPPLEMENT_ABOVE["en"]
  got, score = identifier.predict([text])[0]
  assert got == code and score >= lid.SUPPLEMENT_CERTAIN
  with mock.patch.object(lid, "SUPPLEMENT_CERTAIN", math.inf), _without_english_word_test():  # lid.VERSION 6
    assert lid.LanguageIdentifier().predict([text])[0][0] == "en"


def test_supplement_labels_are_canonical_codes(identifier):
  # The UDHR's Catalan page is tagged 'cat': its label is given as 'ca', like lid.176's.
  text = "Ningú pot ser obligat a pertànyer a una associació"
  assert identifier.supplement_predict(identifier._clean(text))[0][1] == "ca"
  assert identifier.predict([text])[0][0] == "ca"


def test_where_lid176_saw_no_ngram_a_near_certain_supplement_names_lines_not_tokens(identifier):
  # A product title made of n-grams lid.176 pruned: its prior answer (so `und`) before version 7.
  title = "SmartWool Heathered Rib Socks Mens"
  line = identifier._clean(title)
  assert identifier._fasttext(line, 1) == identifier._fasttext("\n", 1)
  assert identifier.predict([title])[0] == ("en", pytest.approx(identifier.supplement_predict(line)[0][0]))
  assert identifier.predict([title])[0][1] >= lid.SUPPLEMENT_SURE_OF_UNSEEN
  # Chat tokens the supplement is as sure of stay lid.176's prior: too short to trust it.
  for token, its_guess in (("xD", "az"), ("wow", "hsb")):
    line = identifier._clean(token)
    assert identifier._fasttext(line, 1) == identifier._fasttext("\n", 1)
    p, guess = identifier.supplement_predict(line)[0]
    assert guess == its_guess and p >= lid.SUPPLEMENT_SURE_OF_UNSEEN
    code, score = identifier.predict([token])[0]
    assert code == "en" and score < lid.DEFAULT_UND_BELOW


def test_where_lid176_answers_its_prior_a_sure_supplement_does_not_decide():
  # lid.176 kept no n-gram of 'hahaha lol': it answers its prior, en at 0.1245, as for an empty line.
  ident = lid.LanguageIdentifier()
  line = ident._clean("hahaha lol")
  assert ident._fasttext(line, 1) == ident._fasttext("\n", 1)
  assert ident.lid176_prior == (pytest.approx(0.1245, abs=1e-4), "en")
  assert ident.supplement_predict(line)[0][0] >= lid.SUPPLEMENT_SURE  # Tetun Dili at 0.97
  code, score = ident.predict(["hahaha lol"])[0]
  assert code == "en" and score < lid.DEFAULT_UND_BELOW  # so `und` in annotations


@pytest.mark.parametrize("text,lid176_en,code", [
    # UDHR clauses of the evaluation's tune half that lid.176 calls English; not one word in
    # SCOWL's list (Asháninka), 1 of 8 ('had': Hmu).
    ("Te oncameetsateji incanteeteri", 0.80, "cni"),
    ("giad fal tinl deib ad baob had loub nend", 0.92, "hms"),
])
def test_lid176s_english_guards_nothing_on_a_line_not_in_english_words(identifier, text, lid176_en, code):
  line = identifier._clean(text)
  p, label = identifier._fasttext(line, 1)[0]
  assert label == "__label__en" and p == pytest.approx(lid176_en, abs=0.01)
  assert identifier.predict([text])[0][0] == code
  with _without_english_word_test():  # lid.VERSION 7
    assert lid.LanguageIdentifier().predict([text])[0][0] == "en"


@pytest.mark.parametrize("text,code", [
    # lid.176 unsure of every language (hr 0.10, rm 0.11); the supplement 0.75 / 0.70 sure.
    ("Kowane mutum na da ƴanci doka ta kare shi game da dukkan shiga- shugula ko wannan taɓa hakki", "ha"),
    ("na inastahili kulindwa na watu pamoja na Serikali", "sw"),
])
def test_where_lid176_is_unsure_a_half_sure_supplement_names_a_line_not_in_english_words(identifier, text, code):
  line = identifier._clean(text)
  assert identifier._fasttext(line, 1)[0][0] < lid.SUPPLEMENT_FROM
  p, label = identifier.supplement_predict(line)[0]
  assert label == code and lid.SUPPLEMENT_SURE_NOT_ENGLISH <= p < lid.SUPPLEMENT_SURE
  assert identifier.predict([text])[0] == (code, pytest.approx(p))
  with _without_english_word_test():  # lid.VERSION 7
    _, score = lid.LanguageIdentifier().predict([text])[0]
  assert score < lid.DEFAULT_UND_BELOW  # `und` before version 8


@pytest.mark.parametrize("text", [
    "the cat sat on the mat",  # lid.176 0.61 en, the supplement 0.90 vi
    "jQuery",  # one word: the supplement's pl does not stand
    "deadpool Zip up hoodie obraz miniatury",  # 2 of 5 words English
    "Mishal Raheja as Dutta Patil",  # names only
])
def test_lines_that_may_be_english_keep_lid176s_english(identifier, text):
  assert identifier.predict([text])[0][0] == "en"


def _without_english_word_test():
  """The rules before lid.VERSION 8: lid.176's English guards every line."""
  return mock.patch.object(english_words, "rules_out_english", return_value=False)
