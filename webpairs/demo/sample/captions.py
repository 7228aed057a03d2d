"""Scene captions from templates in 12 languages, with each language's agreement and word order."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from webpairs.demo.sample import scenes

# Web-like language mix: half English, low-resource languages at a few percent.
LANGUAGE_WEIGHTS: dict[str, float] = {
    "en": 0.50,
    "es": 0.08,
    "de": 0.07,
    "fr": 0.07,
    "ja": 0.05,
    "ru": 0.05,
    "zh": 0.05,
    "id": 0.03,
    "tr": 0.03,
    "vi": 0.03,
    "hi": 0.02,
    "sw": 0.02,
}
LANGUAGES = tuple(LANGUAGE_WEIGHTS)

Item = tuple[str, str]  # (colour, shape)


def _join(parts: Sequence[str], last: str, sep: str = ", ") -> str:
  """'a, b and c' with the language's word (or mark) before the last item."""
  if len(parts) == 1:
    return parts[0]
  return sep.join(parts[:-1]) + last + parts[-1]


def _cap(s: str) -> str:
  return s[:1].upper() + s[1:]


# --- English ---
_EN_BG = {
    "flat": "a {c} background",
    "gradient": "a {c} gradient background",
    "stripes": "a {c} striped background",
    "checker": "a {c} checkered background",
    "noise": "a grainy {c} background",
}
_EN_NUM = {2: "two", 3: "three", 4: "four"}


def _en(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  def one(c: str, s: str) -> str:
    return ("an " if c[0] in "aeiou" else "a ") + f"{c} {s}"

  lst = _join([one(c, s) for c, s in items], " and ")
  back = _EN_BG[bg].format(c=bg_colour)
  if back.startswith("a ") and back[2] in "aeiou":
    back = "an " + back[2:]
  # lid.176 knows few of the nouns here; function words ("there are", "this is", "in
  # front of") are what lift its English score above 0.5 for nearly every caption.
  if t == 0 and len(items) > 1:
    return f"There are {_EN_NUM[len(items)]} shapes in this picture, all on {back}: {lst}."
  if t == 1:
    return f"This is a simple drawing of {lst}, shown on {back}."
  return f"An illustration with {lst} in front of {back}."


# --- German: adjective endings after ein/eine (nominative) and einem (dative) ---
_DE_COLOUR = {
    "red": "rot", "blue": "blau", "green": "grün", "yellow": "gelb", "black": "schwarz",
    "white": "weiß", "orange": "orangefarben", "purple": "violett", "pink": "rosafarben",
    "gray": "grau", "brown": "braun",
}
_DE_SHAPE = {
    "circle": ("Kreis", "m"), "square": ("Quadrat", "n"), "triangle": ("Dreieck", "n"),
    "star": ("Stern", "m"), "ellipse": ("Ellipse", "f"), "rectangle": ("Rechteck", "n"),
    "diamond": ("Raute", "f"), "hexagon": ("Sechseck", "n"),
}
_DE_NOM = {"m": ("ein", "er"), "n": ("ein", "es"), "f": ("eine", "e")}
_DE_BG = {
    "flat": "einem {c}en Hintergrund",
    "gradient": "einem {c}en Hintergrund mit Farbverlauf",
    "stripes": "einem {c} gestreiften Hintergrund",
    "checker": "einem {c} karierten Hintergrund",
    "noise": "einem verrauschten {c}en Hintergrund",
}
_DE_NUM = {2: "Zwei", 3: "Drei", 4: "Vier"}


def _de(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  parts = []
  for c, s in items:
    noun, g = _DE_SHAPE[s]
    art, end = _DE_NOM[g]
    parts.append(f"{art} {_DE_COLOUR[c]}{end} {noun}")
  lst = _join(parts, " und ")
  back = _DE_BG[bg].format(c=_DE_COLOUR[bg_colour])
  if t == 0 and len(items) > 1:
    return f"{_DE_NUM[len(items)]} Formen auf {back}: {lst}."
  if t == 1:
    verb = "ist" if len(items) == 1 else "sind"
    return f"Auf dem Bild {verb} {lst} auf {back} zu sehen."
  return f"Eine einfache Grafik: {lst} auf {back}."


# --- Spanish: (masculine, feminine) colour forms ---
_ES_COLOUR = {
    "red": ("rojo", "roja"), "blue": ("azul", "azul"), "green": ("verde", "verde"),
    "yellow": ("amarillo", "amarilla"), "black": ("negro", "negra"), "white": ("blanco", "blanca"),
    "orange": ("naranja", "naranja"), "purple": ("morado", "morada"), "pink": ("rosa", "rosa"),
    "gray": ("gris", "gris"), "brown": ("marrón", "marrón"),
}
_ES_SHAPE = {
    "circle": ("círculo", "m"), "square": ("cuadrado", "m"), "triangle": ("triángulo", "m"),
    "star": ("estrella", "f"), "ellipse": ("elipse", "f"), "rectangle": ("rectángulo", "m"),
    "diamond": ("rombo", "m"), "hexagon": ("hexágono", "m"),
}
_ES_BG = {
    "flat": "un fondo {c}",
    "gradient": "un fondo {c} degradado",
    "stripes": "un fondo {c} a rayas",
    "checker": "un fondo {c} a cuadros",
    "noise": "un fondo {c} granulado",
}
_ES_NUM = {2: "Dos", 3: "Tres", 4: "Cuatro"}


def _es(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  parts = []
  for c, s in items:
    noun, g = _ES_SHAPE[s]
    parts.append(f"{'un' if g == 'm' else 'una'} {noun} {_ES_COLOUR[c][g == 'f']}")
  lst = _join(parts, " y ")
  back = _ES_BG[bg].format(c=_ES_COLOUR[bg_colour][0])  # "fondo" is masculine
  if t == 0 and len(items) > 1:
    return f"{_ES_NUM[len(items)]} figuras sobre {back}: {lst}."
  if t == 1:
    return f"En la imagen hay {lst} sobre {back}."
  return f"Ilustración sencilla de {lst} sobre {back}."


# --- French ---
_FR_COLOUR = {
    "red": ("rouge", "rouge"), "blue": ("bleu", "bleue"), "green": ("vert", "verte"),
    "yellow": ("jaune", "jaune"), "black": ("noir", "noire"), "white": ("blanc", "blanche"),
    "orange": ("orange", "orange"), "purple": ("violet", "violette"), "pink": ("rose", "rose"),
    "gray": ("gris", "grise"), "brown": ("marron", "marron"),
}
_FR_SHAPE = {
    "circle": ("cercle", "m"), "square": ("carré", "m"), "triangle": ("triangle", "m"),
    "star": ("étoile", "f"), "ellipse": ("ellipse", "f"), "rectangle": ("rectangle", "m"),
    "diamond": ("losange", "m"), "hexagon": ("hexagone", "m"),
}
_FR_BG = {
    "flat": "un fond {c}",
    "gradient": "un fond {c} en dégradé",
    "stripes": "un fond {c} à rayures",
    "checker": "un fond {c} à carreaux",
    "noise": "un fond {c} granuleux",
}
_FR_NUM = {2: "Deux", 3: "Trois", 4: "Quatre"}


def _fr(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  parts = []
  for c, s in items:
    noun, g = _FR_SHAPE[s]
    parts.append(f"{'un' if g == 'm' else 'une'} {noun} {_FR_COLOUR[c][g == 'f']}")
  lst = _join(parts, " et ")
  back = _FR_BG[bg].format(c=_FR_COLOUR[bg_colour][0])  # "fond" is masculine
  if t == 0 and len(items) > 1:
    return f"{_FR_NUM[len(items)]} formes sur {back} : {lst}."
  if t == 1:
    return f"On voit {lst} sur {back}."
  return f"Une illustration simple avec {lst} sur {back}."


# --- Indonesian: noun before colour, no agreement ---
_ID_COLOUR = {
    "red": "merah", "blue": "biru", "green": "hijau", "yellow": "kuning", "black": "hitam",
    "white": "putih", "orange": "oranye", "purple": "ungu", "pink": "merah muda",
    "gray": "abu-abu", "brown": "cokelat",
}
_ID_SHAPE = {
    "circle": "lingkaran", "square": "persegi", "triangle": "segitiga", "star": "bintang",
    "ellipse": "elips", "rectangle": "persegi panjang", "diamond": "belah ketupat",
    "hexagon": "segi enam",
}
_ID_BG = {
    "flat": "latar belakang berwarna {c}",
    "gradient": "latar belakang {c} bergradasi",
    "stripes": "latar belakang {c} bergaris",
    "checker": "latar belakang {c} bermotif kotak-kotak",
    "noise": "latar belakang {c} berbintik",
}
_ID_NUM = {2: "dua", 3: "tiga", 4: "empat"}


def _id(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  parts = [f"{_ID_SHAPE[s]} {_ID_COLOUR[c]}" for c, s in items]
  lst = _join(parts, ", dan " if len(parts) > 2 else " dan ")
  back = _ID_BG[bg].format(c=_ID_COLOUR[bg_colour])
  # Malay shares most of this vocabulary; "ini", "dengan" and "memperlihatkan" keep
  # lid.176 on Indonesian.
  if t == 0 and len(items) > 1:
    return f"Gambar ini memperlihatkan {_ID_NUM[len(items)]} bentuk dengan {back}, yaitu {lst}."
  if t == 1:
    return f"Dalam gambar ini ada {lst} dengan {back}."
  return f"Ilustrasi sederhana ini memperlihatkan {lst} dengan {back}."


# --- Japanese: attributive colour forms; kana in every template keeps it apart from zh ---
_JA_COLOUR = {
    "red": "赤い", "blue": "青い", "green": "緑の", "yellow": "黄色い", "black": "黒い",
    "white": "白い", "orange": "オレンジ色の", "purple": "紫の", "pink": "ピンクの",
    "gray": "灰色の", "brown": "茶色の",
}
_JA_SHAPE = {
    "circle": "円", "square": "正方形", "triangle": "三角形", "star": "星", "ellipse": "楕円",
    "rectangle": "長方形", "diamond": "ひし形", "hexagon": "六角形",
}
_JA_BG = {
    "flat": "{c}背景",
    "gradient": "{c}グラデーションの背景",
    "stripes": "{c}ストライプ柄の背景",
    "checker": "{c}チェック柄の背景",
    "noise": "ざらざらした{c}背景",
}
_JA_NUM = {1: "一つ", 2: "二つ", 3: "三つ", 4: "四つ"}


def _ja(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  lst = _join([f"{_JA_COLOUR[c]}{_JA_SHAPE[s]}" for c, s in items], "と", sep="、")
  back = _JA_BG[bg].format(c=_JA_COLOUR[bg_colour])
  if t == 0:
    return f"{back}の上に{_JA_NUM[len(items)]}の図形があります。{lst}です。"
  if t == 1:
    return f"{back}に{lst}が描かれています。"
  return f"シンプルなイラストで、{back}に{lst}が並んでいます。"


# --- Chinese ---
_ZH_COLOUR = {
    "red": "红色", "blue": "蓝色", "green": "绿色", "yellow": "黄色", "black": "黑色",
    "white": "白色", "orange": "橙色", "purple": "紫色", "pink": "粉色", "gray": "灰色",
    "brown": "棕色",
}
_ZH_SHAPE = {
    "circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形", "ellipse": "椭圆形",
    "rectangle": "长方形", "diamond": "菱形", "hexagon": "六边形",
}
_ZH_BG = {
    "flat": "{c}的背景",
    "gradient": "{c}的渐变背景",
    "stripes": "{c}的条纹背景",
    "checker": "{c}的格子背景",
    "noise": "带有噪点的{c}背景",
}
_ZH_NUM = {1: "一", 2: "两", 3: "三", 4: "四"}


def _zh(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  lst = _join([f"一个{_ZH_COLOUR[c]}的{_ZH_SHAPE[s]}" for c, s in items], "和", sep="、")
  back = _ZH_BG[bg].format(c=_ZH_COLOUR[bg_colour])
  if t == 0:
    return f"这张图片在{back}上画了{_ZH_NUM[len(items)]}个图形：{lst}。"
  if t == 1:
    return f"在{back}上有{lst}。"
  return f"一幅简单的插图，{back}上画着{lst}。"


# --- Russian: (masc. nom., fem. nom., masc. prepositional) colour forms ---
_RU_COLOUR = {
    "red": ("красный", "красная", "красном"), "blue": ("синий", "синяя", "синем"),
    "green": ("зелёный", "зелёная", "зелёном"), "yellow": ("жёлтый", "жёлтая", "жёлтом"),
    "black": ("чёрный", "чёрная", "чёрном"), "white": ("белый", "белая", "белом"),
    "orange": ("оранжевый", "оранжевая", "оранжевом"),
    "purple": ("фиолетовый", "фиолетовая", "фиолетовом"),
    "pink": ("розовый", "розовая", "розовом"), "gray": ("серый", "серая", "сером"),
    "brown": ("коричневый", "коричневая", "коричневом"),
}
_RU_SHAPE = {
    "circle": ("круг", "m"), "square": ("квадрат", "m"), "triangle": ("треугольник", "m"),
    "star": ("звезда", "f"), "ellipse": ("эллипс", "m"), "rectangle": ("прямоугольник", "m"),
    "diamond": ("ромб", "m"), "hexagon": ("шестиугольник", "m"),
}
_RU_BG = {
    "flat": "на {c} фоне",
    "gradient": "на {c} градиентном фоне",
    "stripes": "на {c} полосатом фоне",
    "checker": "на {c} клетчатом фоне",
    "noise": "на {c} зернистом фоне",
}
_RU_NUM = {2: "Две фигуры", 3: "Три фигуры", 4: "Четыре фигуры"}  # 2-4 take genitive singular


def _ru(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  parts = []
  for c, s in items:
    noun, g = _RU_SHAPE[s]
    parts.append(f"{_RU_COLOUR[c][g == 'f']} {noun}")
  lst = _join(parts, " и ")
  back = _RU_BG[bg].format(c=_RU_COLOUR[bg_colour][2])
  if t == 0 and len(items) > 1:
    return f"{_RU_NUM[len(items)]} {back}: {lst}."
  if t == 1:
    if len(items) > 1:
      verb = "изображены"
    else:
      verb = "изображена" if _RU_SHAPE[items[0][1]][1] == "f" else "изображён"
    return f"{_cap(back)} {verb} {lst}."
  return f"Простая иллюстрация: {lst} {back}."


# --- Turkish: "kırmızı bir daire"; nouns stay singular after numbers ---
_TR_COLOUR = {
    "red": "kırmızı", "blue": "mavi", "green": "yeşil", "yellow": "sarı", "black": "siyah",
    "white": "beyaz", "orange": "turuncu", "purple": "mor", "pink": "pembe", "gray": "gri",
    "brown": "kahverengi",
}
_TR_SHAPE = {
    "circle": "daire", "square": "kare", "triangle": "üçgen", "star": "yıldız", "ellipse": "elips",
    "rectangle": "dikdörtgen", "diamond": "eşkenar dörtgen", "hexagon": "altıgen",
}
_TR_BG = {
    "flat": "{c} bir arka plan üzerinde",
    "gradient": "{c} renk geçişli bir arka plan üzerinde",
    "stripes": "{c} çizgili bir arka plan üzerinde",
    "checker": "{c} damalı bir arka plan üzerinde",
    "noise": "{c} ve grenli bir arka plan üzerinde",
}
_TR_NUM = {2: "iki", 3: "üç", 4: "dört"}


def _tr(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  lst = _join([f"{_TR_COLOUR[c]} bir {_TR_SHAPE[s]}" for c, s in items], " ve ")
  back = _TR_BG[bg].format(c=_TR_COLOUR[bg_colour])
  if t == 0 and len(items) > 1:
    return f"{_cap(back)} {_TR_NUM[len(items)]} şekil görülüyor: {lst}."
  if t == 1:
    return f"Resimde {back} {lst} var."
  return f"Basit bir çizim: {back} {lst}."


# --- Swahili: "nyota ya rangi nyekundu", the connective agreeing with the shape's class ---
_SW_COLOUR = {  # as said of "rangi" (an N-class noun)
    "red": "nyekundu", "black": "nyeusi", "white": "nyeupe", "blue": "ya bluu",
    "green": "ya kijani", "yellow": "ya njano", "orange": "ya machungwa",
    "purple": "ya zambarau", "pink": "ya waridi", "gray": "ya kijivu", "brown": "ya kahawia",
}
_SW_SHAPE = {  # noun, connective of its class (N: ya, M-MI: wa)
    "circle": ("duara", "ya"), "square": ("mraba", "wa"), "triangle": ("pembetatu", "ya"),
    "star": ("nyota", "ya"), "ellipse": ("duaradufu", "ya"), "rectangle": ("mstatili", "wa"),
    "diamond": ("almasi", "ya"), "hexagon": ("pembesita", "ya"),
}
_SW_BG = {
    "flat": "mandharinyuma ya rangi {c}",
    "gradient": "mandharinyuma ya rangi {c} inayofifia",
    "stripes": "mandharinyuma ya rangi {c} yenye mistari",
    "checker": "mandharinyuma ya rangi {c} yenye miraba midogo",
    "noise": "mandharinyuma ya rangi {c} yenye madoadoa",
}
_SW_NUM = {1: "umbo moja", 2: "maumbo mawili", 3: "maumbo matatu", 4: "maumbo manne"}


def _sw(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  parts = []
  for c, s in items:
    noun, conn = _SW_SHAPE[s]
    parts.append(f"{noun} {conn} rangi {_SW_COLOUR[c]}")
  lst = _join(parts, " na ")
  back = _SW_BG[bg].format(c=_SW_COLOUR[bg_colour])
  if t == 0:
    # Relative forms agree with umbo (class 5) or maumbo (class 6).
    drawn, which = ("lililochorwa", "ambalo") if len(items) == 1 else ("yaliyochorwa", "ambayo")
    shapes = f"{_SW_NUM[len(items)]} {drawn} kwa rangi"
    return f"Hii ni picha ya {shapes} kwenye {back}, {which} ni {lst}."
  if t == 1:
    return f"Mchoro rahisi wa {lst} kwenye {back}."
  return f"Picha hii inaonyesha {lst} kwenye {back} kwa mtindo rahisi."


# --- Hindi: every shape noun is masculine; पृष्ठभूमि is feminine ---
_HI_COLOUR = {  # (masculine, feminine)
    "red": ("लाल", "लाल"), "blue": ("नीला", "नीली"), "green": ("हरा", "हरी"),
    "yellow": ("पीला", "पीली"), "black": ("काला", "काली"), "white": ("सफ़ेद", "सफ़ेद"),
    "orange": ("नारंगी", "नारंगी"), "purple": ("बैंगनी", "बैंगनी"), "pink": ("गुलाबी", "गुलाबी"),
    "gray": ("स्लेटी", "स्लेटी"), "brown": ("भूरा", "भूरी"),
}
_HI_SHAPE = {
    "circle": "वृत्त", "square": "वर्ग", "triangle": "त्रिभुज", "star": "तारा",
    "ellipse": "दीर्घवृत्त", "rectangle": "आयत", "diamond": "समचतुर्भुज", "hexagon": "षट्भुज",
}
_HI_BG = {
    "flat": "{c} पृष्ठभूमि पर",
    "gradient": "{c} ग्रेडिएंट वाली पृष्ठभूमि पर",
    "stripes": "{c} धारीदार पृष्ठभूमि पर",
    "checker": "{c} चौखानेदार पृष्ठभूमि पर",
    "noise": "{c} दानेदार पृष्ठभूमि पर",
}
_HI_NUM = {1: "एक आकृति है", 2: "दो आकृतियाँ हैं", 3: "तीन आकृतियाँ हैं", 4: "चार आकृतियाँ हैं"}


def _hi(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  lst = _join([f"एक {_HI_COLOUR[c][0]} {_HI_SHAPE[s]}" for c, s in items], " और ")
  back = _HI_BG[bg].format(c=_HI_COLOUR[bg_colour][1])
  if t == 0:
    return f"इस चित्र में {back} {_HI_NUM[len(items)]}: {lst}।"
  if t == 1:
    verb = "बना हुआ है" if len(items) == 1 else "बने हुए हैं"
    return f"इस चित्र में {back} {lst} {verb}।"
  verb = "दिखाई देता है" if len(items) == 1 else "दिखाई देते हैं"
  return f"एक सरल चित्र जिसमें {back} {lst} {verb}।"


# --- Vietnamese: classifier-free "một hình tròn màu đỏ" ---
_VI_COLOUR = {
    "red": "màu đỏ", "blue": "màu xanh dương", "green": "màu xanh lá", "yellow": "màu vàng",
    "black": "màu đen", "white": "màu trắng", "orange": "màu cam", "purple": "màu tím",
    "pink": "màu hồng", "gray": "màu xám", "brown": "màu nâu",
}
_VI_SHAPE = {
    "circle": "hình tròn", "square": "hình vuông", "triangle": "hình tam giác", "star": "ngôi sao",
    "ellipse": "hình elip", "rectangle": "hình chữ nhật", "diamond": "hình thoi",
    "hexagon": "hình lục giác",
}
_VI_BG = {
    "flat": "trên nền {c}",
    "gradient": "trên nền {c} chuyển sắc",
    "stripes": "trên nền kẻ sọc {c}",
    "checker": "trên nền ca rô {c}",
    "noise": "trên nền {c} lấm tấm",
}
_VI_NUM = {2: "hai", 3: "ba", 4: "bốn"}


def _vi(items: list[Item], bg: str, bg_colour: str, t: int) -> str:
  lst = _join([f"một {_VI_SHAPE[s]} {_VI_COLOUR[c]}" for c, s in items], " và ")
  back = _VI_BG[bg].format(c=_VI_COLOUR[bg_colour])
  if t == 0 and len(items) > 1:
    return f"Bức ảnh có {_VI_NUM[len(items)]} hình {back}: {lst}."
  if t == 1:
    return f"Hình minh họa đơn giản gồm {lst} {back}."
  return f"Trong ảnh có {lst} {back}."


_RENDERERS: dict[str, Callable[[list[Item], str, str, int], str]] = {
    "en": _en, "de": _de, "es": _es, "fr": _fr, "id": _id, "ja": _ja, "zh": _zh,
    "ru": _ru, "tr": _tr, "sw": _sw, "hi": _hi, "vi": _vi,
}
NUM_TEMPLATES = 3


def describe(scene: scenes.Scene, lang: str, template: int) -> str:
  """The caption of `scene` in `lang` with template number `template` (0..NUM_TEMPLATES-1)."""
  items = [(s.colour, s.shape) for s in scene.shapes]
  bg = scene.background
  return _RENDERERS[lang](items, bg.kind, bg.colour, template)


def random_caption(rng: np.random.Generator, scene: scenes.Scene, lang: str) -> str:
  return describe(scene, lang, int(rng.integers(NUM_TEMPLATES)))


def random_language(rng: np.random.Generator) -> str:
  p = np.asarray(list(LANGUAGE_WEIGHTS.values()))
  return LANGUAGES[int(rng.choice(len(LANGUAGES), p=p / p.sum()))]
