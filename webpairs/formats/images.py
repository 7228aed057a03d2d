"""The image formats webpairs stores, and the one way stored bytes become model pixels.

Curation (`--resize`), the trainer's input and eval loading all call `upright_rgb`, so one
curated image gives the model the same pixels whichever path it took.
"""

from __future__ import annotations

from PIL import Image, ImageOps

# Member extensions of an example's image, in the order a reader prefers them when several are present.
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff")


def to_rgb(img: Image.Image) -> Image.Image:
  """Any PIL image as RGB; transparent pixels become white, as a browser shows them on a white page."""
  if img.mode == "RGB":
    return img
  if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
    rgba = img.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
  return img.convert("RGB")


def upright_rgb(img: Image.Image) -> Image.Image:
  """Model pixels of a decoded image: EXIF orientation applied, then `to_rgb` (transparency on white)."""
  return to_rgb(ImageOps.exif_transpose(img))
