"""Test helpers: write small curated shards in the materialize job's format, read the real captions."""

from __future__ import annotations

import io
import json
import pathlib
import tarfile
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

# A JPEG header is enough: the reader must never decode images.
FAKE_JPEG = b"\xff\xd8\xff\xe0" + bytes(200)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  tar.addfile(info, io.BytesIO(data))


def write_curated(
    folder: pathlib.Path,
    rows: Sequence[tuple[str, str | None]],
    *,
    shards: int = 2,
    sidecars: Sequence[bool] = (True, False),
    name: str = "curated",
) -> list[pathlib.Path]:
  """(caption, lang or None) rows -> NAME-0000k.tar (+ .parquet where sidecars[k]) + manifest.json."""
  folder.mkdir(parents=True, exist_ok=True)
  tars, manifest = [], []
  for k in range(shards):
    part = [(f"{k:05d}{i:06d}", caption, lang) for i, (caption, lang) in enumerate(rows[k::shards])]
    stem = folder / f"{name}-{k:05d}"
    with tarfile.open(f"{stem}.tar", "w") as tar:
      for key, caption, lang in part:
        meta = {"caption": caption, "key": key} | ({"lang": lang} if lang is not None else {})
        _add(tar, f"{key}.jpg", FAKE_JPEG)
        _add(tar, f"{key}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        _add(tar, f"{key}.txt", caption.encode("utf-8"))
    if sidecars[k % len(sidecars)]:
      pq.write_table(pa.table({"key": [p[0] for p in part], "caption": [p[1] for p in part],
                               "lang": pa.array([p[2] for p in part], pa.string())}), f"{stem}.parquet")
    tars.append(pathlib.Path(f"{stem}.tar"))
    manifest.append({"shard": tars[-1].name, "examples": len(part)})
  (folder / "manifest.json").write_text(json.dumps({"shards": manifest}))
  return tars


def real_captions(shared_data: pathlib.Path) -> dict[str, list[str]]:
  """Language (the file name) -> its non-empty captions, in file order."""
  out = {}
  for path in sorted((shared_data / "real_captions_multilingual").glob("*.jsonl")):
    lines = path.read_text(encoding="utf-8").splitlines()
    out[path.name.split(".")[0]] = [s for line in lines for s in json.loads(line)["sentences"] if s.strip()]
  return out


def as_rows(captions: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
  return [(caption, lang) for lang in sorted(captions) for caption in captions[lang]]
