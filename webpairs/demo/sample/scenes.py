"""Procedural scenes: a background and a few shapes of named colours, drawn with PIL, with boxes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image, ImageDraw

from webpairs.curation.detectors import NAMED_COLOURS

# Named colours; captions only ever use these names. The colour detector's default palette, so
# `webpairs curate detect` finds the drawn shapes (the demo may import the core, never the reverse).
COLOURS: dict[str, tuple[int, int, int]] = NAMED_COLOURS
SHAPES = ("circle", "square", "triangle", "star", "ellipse", "rectangle", "diamond", "hexagon")
BACKGROUNDS = ("flat", "gradient", "stripes", "checker", "noise")
_BACKGROUND_WEIGHTS = (0.3, 0.2, 0.2, 0.1, 0.2)
# Backgrounds whose pixels do not compress away, so a cut file is cut inside pixel data.
TEXTURED = ("stripes", "checker", "noise")
_NUM_SHAPES_WEIGHTS = (0.35, 0.3, 0.2, 0.15)  # 1..4 shapes


@dataclasses.dataclass(frozen=True)
class Shape:
  """One drawn object: centre and half extents in pixels, rotation in degrees."""

  shape: str
  colour: str
  cx: float
  cy: float
  rx: float
  ry: float
  angle: float = 0.0


@dataclasses.dataclass(frozen=True)
class Background:
  """`colour` is the named tone; the second tone of gradients and patterns is a tint of it."""

  kind: str
  colour: str
  angle: float = 0.0  # direction of gradients and stripes, degrees
  period: float = 0.0  # stripe or checker period in pixels
  contrast: float = 0.0  # 0..1: how far the second tone moves towards white or black
  seed: int = 0  # noise texture and shading
  shading: float = 0.0  # amplitude of a smooth lighting field, in grey levels


@dataclasses.dataclass(frozen=True)
class Scene:
  width: int
  height: int
  background: Background
  shapes: tuple[Shape, ...]


def _polygon(s: Shape) -> list[tuple[float, float]]:
  """Outline of a polygonal shape (every shape but circle and ellipse)."""
  if s.shape in ("square", "rectangle"):
    pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
  elif s.shape == "diamond":
    pts = [(0, -1), (1, 0), (0, 1), (-1, 0)]
  elif s.shape == "triangle":
    pts = [(math.sin(a), -math.cos(a)) for a in (0, 2 * math.pi / 3, 4 * math.pi / 3)]
  elif s.shape == "hexagon":
    pts = [(math.cos(k * math.pi / 3), math.sin(k * math.pi / 3)) for k in range(6)]
  elif s.shape == "star":
    pts = []
    for k in range(10):
      r = 1.0 if k % 2 == 0 else 0.45
      a = k * math.pi / 5
      pts.append((r * math.sin(a), -r * math.cos(a)))
  else:
    raise ValueError(f"not a polygon: {s.shape}")
  c, si = math.cos(math.radians(s.angle)), math.sin(math.radians(s.angle))
  return [(s.cx + s.rx * (x * c - y * si), s.cy + s.ry * (x * si + y * c)) for x, y in pts]


def shape_box(s: Shape, width: int, height: int) -> tuple[int, int, int, int]:
  """Pixel box (x0, y0, x1, y1) of the drawn shape, x1/y1 exclusive, clipped to the image."""
  if s.shape in ("circle", "ellipse"):
    xs, ys = (s.cx - s.rx, s.cx + s.rx), (s.cy - s.ry, s.cy + s.ry)
  else:
    pts = _polygon(s)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
  x0, y0 = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
  x1, y1 = min(width, math.floor(max(xs)) + 1), min(height, math.floor(max(ys)) + 1)
  return x0, y0, x1, y1


def objects(scene: Scene) -> list[dict]:
  """Ground-truth regions in drawing order: shape, colour name and pixel box."""
  return [
      {"shape": s.shape, "colour": s.colour, "box": list(shape_box(s, scene.width, scene.height))}
      for s in scene.shapes
  ]


def _second_tone(rgb: np.ndarray, contrast: float) -> np.ndarray:
  # Dark colours get a lighter second tone and light ones a darker one, so patterns show.
  target = 255.0 if rgb.mean() < 128 else 0.0
  return rgb + (target - rgb) * contrast


def _shading(bg: Background, x: np.ndarray, y: np.ndarray, width: int, height: int) -> np.ndarray:
  """Smooth random lighting, like uneven light in a photo.

  It gives every scene its own low-frequency structure, which is what keeps the DCT
  perceptual hashes of different scenes apart even when their shapes look alike.
  """
  rng = np.random.default_rng([bg.seed, 1])
  field = np.zeros((height, width), np.float32)
  for _ in range(3):
    fx, fy = rng.uniform(-1.5, 1.5, 2)
    phase = rng.uniform(0, 2 * math.pi)
    # cos(a + b) = cos a cos b - sin a sin b: two outer products instead of a 2-D cos.
    ax = 2 * math.pi * fx * x / width
    by = 2 * math.pi * fy * y / height + phase
    field += np.cos(by) * np.cos(ax) - np.sin(by) * np.sin(ax)
  return bg.shading / 3 * field


def _background(bg: Background, width: int, height: int) -> np.ndarray:
  rgb = np.asarray(COLOURS[bg.colour], np.float32)
  x = np.arange(width, dtype=np.float32)[None, :]
  y = np.arange(height, dtype=np.float32)[:, None]
  light = _shading(bg, x, y, width, height)[..., None]
  if bg.kind == "flat":
    return np.clip(rgb + light, 0, 255).astype(np.uint8)
  other = _second_tone(rgb, bg.contrast)
  a = math.radians(bg.angle)
  along = x * math.cos(a) + y * math.sin(a)
  if bg.kind == "gradient":
    t = (along - along.min()) / max(float(along.max() - along.min()), 1.0)
  elif bg.kind == "stripes":
    t = (np.floor(along / bg.period) % 2).astype(np.float32)
  elif bg.kind == "checker":
    t = ((np.floor(x / bg.period) + np.floor(y / bg.period)) % 2).astype(np.float32)
  elif bg.kind == "noise":
    rng = np.random.default_rng(bg.seed)
    grain = rng.normal(0.0, 90.0 * bg.contrast, (height, width, 1)).astype(np.float32)
    return np.clip(rgb + light + grain, 0, 255).astype(np.uint8)
  else:
    raise ValueError(f"unknown background {bg.kind!r}")
  out = rgb + light + t[..., None] * (other - rgb)
  return np.clip(out, 0, 255).astype(np.uint8)


def render(scene: Scene) -> Image.Image:
  """Draws the scene as an RGB image; the same scene always gives the same pixels."""
  img = Image.fromarray(_background(scene.background, scene.width, scene.height), "RGB")
  draw = ImageDraw.Draw(img)
  for s in scene.shapes:
    fill = COLOURS[s.colour]
    if s.shape in ("circle", "ellipse"):
      draw.ellipse((s.cx - s.rx, s.cy - s.ry, s.cx + s.rx, s.cy + s.ry), fill=fill)
    else:
      draw.polygon(_polygon(s), fill=fill)
  return img


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> float:
  """Intersection over the smaller box's area."""
  w = min(a[2], b[2]) - max(a[0], b[0])
  h = min(a[3], b[3]) - max(a[1], b[1])
  if w <= 0 or h <= 0:
    return 0.0
  smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
  return w * h / max(smaller, 1)


def random_background(
    rng: np.random.Generator, width: int, height: int, textured: bool = False
) -> Background:
  if textured:
    kind = TEXTURED[int(rng.integers(len(TEXTURED)))]
  else:
    kind = BACKGROUNDS[int(rng.choice(len(BACKGROUNDS), p=_BACKGROUND_WEIGHTS))]
  names = list(COLOURS)
  colour = names[int(rng.integers(len(names)))]
  side = min(width, height)
  return Background(
      kind=kind,
      colour=colour,
      angle=float(rng.uniform(0, 360)),
      # Periods of 1/3..1/10 of the image survive phash's 32x32 downscale as structure.
      period=float(max(2.0, side * rng.uniform(0.1, 0.33))),
      contrast=float(rng.uniform(0.3, 0.6)),
      seed=int(rng.integers(2**31)),
      shading=float(rng.uniform(25, 45)),
  )


def random_scene(
    rng: np.random.Generator, width: int, height: int, textured: bool = False
) -> Scene:
  """1-4 shapes, each (colour, shape) pair used once, none the background's colour."""
  bg = random_background(rng, width, height, textured)
  n = 1 + int(rng.choice(len(_NUM_SHAPES_WEIGHTS), p=_NUM_SHAPES_WEIGHTS))
  side = min(width, height)
  shapes: list[Shape] = []
  boxes: list[tuple[int, ...]] = []
  used: set[tuple[str, str]] = set()
  colours = [c for c in COLOURS if c != bg.colour]
  while len(shapes) < n:
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = colours[int(rng.integers(len(colours)))]
    if (colour, kind) in used:
      continue
    # A lone shape is drawn larger: it is the subject of the picture.
    lo, hi = (0.22, 0.42) if n == 1 else (0.12, 0.3)
    r = max(2.0, side * float(rng.uniform(lo, hi)))
    rx = ry = r
    if kind in ("ellipse", "rectangle"):
      stretch = float(rng.uniform(1.5, 2.2))
      if rng.random() < 0.5:
        ry = r / stretch
      else:
        rx = r / stretch
    angle = float(rng.uniform(0, 360)) if kind in ("triangle", "star", "hexagon") else 0.0
    best = None
    for _ in range(20):  # prefer spots that hide little of the shapes already drawn
      cx = float(rng.uniform(rx, max(rx, width - rx)))
      cy = float(rng.uniform(ry, max(ry, height - ry)))
      cand = Shape(kind, colour, cx, cy, rx, ry, angle)
      box = shape_box(cand, width, height)
      worst = max((_overlap(box, b) for b in boxes), default=0.0)
      if best is None or worst < best[0]:
        best = (worst, cand, box)
      if worst < 0.2:
        break
    shapes.append(best[1])
    boxes.append(best[2])
    used.add((colour, kind))
  return Scene(width, height, bg, tuple(shapes))


def random_size(rng: np.random.Generator, min_side: int = 1) -> tuple[int, int]:
  """Web-like (width, height): a few tiny icons, mostly small to medium, some large photos."""
  while True:
    bucket = rng.choice(4, p=(0.05, 0.35, 0.52, 0.08))
    lo, hi = ((16, 48), (64, 256), (256, 800), (800, 1600))[int(bucket)]
    long_side = int(rng.integers(lo, hi + 1))
    aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))  # width / height
    if aspect >= 1:
      w, h = long_side, max(8, round(long_side / aspect))
    else:
      w, h = max(8, round(long_side * aspect)), long_side
    if min(w, h) >= min_side:
      return w, h
