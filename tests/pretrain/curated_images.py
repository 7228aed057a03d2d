"""Test helpers: curated shards (webdataset tars + parquet sidecars + manifest) with real images of sample scenes."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import pathlib
import tarfile
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from webpairs.demo.sample import defects, images, regions, scenes
from webpairs.demo.sample import plan as plan_lib

CLEAN = {d: 0.0 for d in defects.DEFAULT_RATES}


@dataclasses.dataclass(frozen=True)
class Example:
  key: str
  ext: str
  image: bytes
  caption: str
  lang: str
  regions: tuple[dict, ...] = ()  # ground truth {text, box [ymin, xmin, ymax, xmax] normalised}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  info.mtime = 0
  tar.addfile(info, io.BytesIO(data))


def write_shards(folder: pathlib.Path, examples: Sequence[Example], shard_size: int) -> list[pathlib.Path]:
  """shard-0000k.tar with {key}.{ext,txt,json} members, shard-0000k.parquet sidecars, manifest.json."""
  folder.mkdir(parents=True, exist_ok=True)
  paths, manifest = [], []
  for k in range(math.ceil(len(examples) / shard_size)):
    part = examples[k * shard_size:(k + 1) * shard_size]
    path = folder / f"shard-{k:05d}.tar"
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
      for ex in part:
        meta = {"key": ex.key, "caption": ex.caption, "lang": ex.lang, "regions": list(ex.regions)}
        _add(tar, f"{ex.key}.{ex.ext}", ex.image)
        _add(tar, f"{ex.key}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        _add(tar, f"{ex.key}.txt", ex.caption.encode("utf-8"))
    pq.write_table(pa.table({"key": [e.key for e in part], "caption": [e.caption for e in part],
                             "lang": [e.lang for e in part], "offset": list(range(len(part)))}),
                   folder / f"shard-{k:05d}.parquet")
    paths.append(path)
    manifest.append({"name": path.name, "examples": len(part), "bytes": path.stat().st_size})
  (folder / "manifest.json").write_text(json.dumps({"shards": manifest, "tokenizer": None}))
  return paths


def _shrink(scene: scenes.Scene, max_side: int) -> scenes.Scene:
  """The same picture drawn smaller: every length scaled, so the caption still holds."""
  s = max_side / max(scene.width, scene.height)
  if s >= 1:
    return scene
  shapes = tuple(dataclasses.replace(p, cx=p.cx * s, cy=p.cy * s, rx=max(1.5, p.rx * s), ry=max(1.5, p.ry * s))
                 for p in scene.shapes)
  bg = dataclasses.replace(scene.background, period=max(2.0, scene.background.period * s))
  return scenes.Scene(max(8, round(scene.width * s)), max(8, round(scene.height * s)), bg, shapes)


def scene_examples(num_examples: int, seed: int = 0, max_side: int | None = 96) -> list[Example]:
  """Clean examples of the sample generator's plan (drawn scenes, captions in 12 languages)."""
  plan = plan_lib.plan_sample(num_examples, seed, shard_size=max(num_examples, 1), rates=CLEAN,
                              truncated_tar=False)
  out = []
  for ex in plan.examples:
    scene = _shrink(ex.scene, max_side) if max_side else ex.scene
    boxes = tuple(regions.regions_from_objects(scenes.objects(scene), scene.width, scene.height))
    out.append(Example(ex.key, ex.ext, images.encode(scenes.render(scene), ex.image_format, ex.quality),
                       ex.caption, ex.lang, boxes))
  return out


def write_curated_images(folder: pathlib.Path, num_examples: int, *, seed: int = 0, shard_size: int = 32,
                         max_side: int | None = 96) -> list[Example]:
  examples = scene_examples(num_examples, seed, max_side)
  write_shards(folder, examples, shard_size)
  return examples
