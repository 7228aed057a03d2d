"""Corner windows on a pool of unrelated images: which guards keep them apart.

Reads samples written by `webpairs sample` (the tars and truth.parquet), hashes every image as annotate
does (curation/image.py, windows on: the 3x3 grid and, format 7, the top-left and bottom-right windows
of 75%) and counts unrelated pairs (not one near/exact-duplicate family of the truth; the sample's copies
of the real photos are one family with them) whose corner windows come within t (phash and dhash,
sharing dedup.CORNER_BAND's band value): the same corner (select's rule, dedup.corner_keys) or any two
corners, without guards, with the content dHash guard (dedup.CORNER_CONTENT_THRESHOLD), the aspect guard
(dedup.CORNER_ASPECT_MAX_STEPS) and both (select's dedup.corner_pairs). Brute force over all pairs.

  WEBPAIRS_SHARED_DATA=../shared/data .venv/bin/python -m webpairs.cli sample --output S1 --examples 1500
  WEBPAIRS_SHARED_DATA=../shared/data .venv/bin/python -m webpairs.cli sample --output S2 --examples 5000 --seed 1
  .venv/bin/python benchmarks/corner_pool.py S1 S2 [--thresholds 10,12,14]
"""

from __future__ import annotations

import argparse
import glob
import pathlib
import tarfile

import numpy as np
import pyarrow.parquet as pq

from webpairs.curation import dedup, hashes, image

IMAGE_EXTS = {"jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"}


def sample_images(folder: pathlib.Path) -> list[tuple[str, str, bytes]]:
  """(key, family, bytes) of every image member of a sample (a truncated tar: the members before the cut)."""
  truth = {r["key"]: r for r in pq.read_table(folder / "truth.parquet").to_pylist()}

  def family(key: str) -> str:
    for _ in range(10):
      if not truth[key]["dup_of"]:
        break
      key = truth[key]["dup_of"]
    return key

  out = []
  for path in sorted(glob.glob(str(folder / "*.tar"))):
    with tarfile.open(path) as tar:
      try:
        for m in tar:
          stem, _, ext = m.name.partition(".")
          if ext.lower() in IMAGE_EXTS and stem in truth:
            out.append((stem, f"{folder.name}/{family(stem)}", tar.extractfile(m).read()))
      except (tarfile.TarError, OSError, EOFError):
        pass
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("samples", nargs="+")
  parser.add_argument("--thresholds", default="10,12,14")
  parser.add_argument("--band_bits", type=int, default=16)
  args = parser.parse_args()
  fam, P, D, CP, CD, A = [], [], [], [], [], []
  for folder in args.samples:
    for _, family, data in sample_images(pathlib.Path(folder)):
      info = image.inspect_image(data, windows=True)
      if info.status != "ok":
        continue
      fam.append(family)
      P.append(hashes.phash_batch(info.phash_pixels[None])[0])
      D.append(hashes.dhash_batch(info.dhash_pixels[None])[0])
      CP.append(hashes.phash_low_batch(info.window_phash_pixels[image.N_GRID_WINDOWS:]))
      CD.append(hashes.dhash_batch(info.window_dhash_pixels[image.N_GRID_WINDOWS:]))
      A.append(dedup.aspect_codes(np.float32([info.content_aspect]))[0])
  P, D, CP, CD = (np.array(x, np.uint64) for x in (P, D, CP, CD))
  A = np.array(A, np.int16)
  fam = np.array(fam)
  n = len(P)
  # The samples' copies of the real photos (and their edits) are one family across samples.
  for i in range(n):
    near = np.flatnonzero(dedup.is_near(hashes.hamming(P[i], P), hashes.hamming(D[i], D), 12)
                          & (fam != fam[i]) & (np.arange(n) < i))
    if len(near):
      fam[fam == fam[i]] = fam[near[0]]
  unrelated = np.triu(fam[:, None] != fam[None, :], 1)
  content_ok = hashes.hamming(D[:, None], D[None, :]) <= dedup.CORNER_CONTENT_THRESHOLD
  aspect_ok = np.abs(A[:, None] - A[None, :]) <= dedup.CORNER_ASPECT_MAX_STEPS
  print(f"{n} images of {len(set(fam))} families, {int(unrelated.sum()):,} unrelated pairs; corner windows "
        f"of {image.CORNER_SHARE:.0%} (top-left, bottom-right); guards: content dHash <= "
        f"{dedup.CORNER_CONTENT_THRESHOLD}, aspects <= {dedup.CORNER_ASPECT_MAX_STEPS} steps")
  print(f"{'corners':<8}{'t':>3} {'no guard':>9} {'dHash':>7} {'aspect':>7} {'both':>6}   (unrelated pairs linked)")
  for t in (int(x) for x in args.thresholds.split(",")):
    for label, combos in (("same", [(c, c) for c in range(image.N_CORNERS)]),
                          ("any", [(a, b) for a in range(image.N_CORNERS) for b in range(image.N_CORNERS)])):
      hit = np.zeros((n, n), bool)
      for a, b in combos:
        near = dedup.is_near(hashes.hamming(CP[:, None, a], CP[None, :, b]),
                             hashes.hamming(CD[:, None, a], CD[None, :, b]), t)
        va = dedup.band_values(CP[:, a], CD[:, a], args.band_bits, only=dedup.CORNER_BAND)
        vb = dedup.band_values(CP[:, b], CD[:, b], args.band_bits, only=dedup.CORNER_BAND)
        hit |= near & (va[:, None] == vb[None, :])
      hit = (hit | hit.T) & unrelated
      print(f"{label:<8}{t:>3} {int(hit.sum()):>9} {int((hit & content_ok).sum()):>7} {int((hit & aspect_ok).sum()):>7} "
            f"{int((hit & content_ok & aspect_ok).sum()):>6}")


if __name__ == "__main__":
  main()
