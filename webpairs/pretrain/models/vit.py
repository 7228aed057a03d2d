"""Vision Transformer: conv patch embedding, learned or sincos2d position embedding, pre-LN encoder, pooling."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from webpairs.pretrain.models import common

POOL_TYPES = ("map", "gap", "tok", "none")
POSEMB_TYPES = ("learn", "sincos2d")


def posemb_sincos_2d(h: int, w: int, width: int, temperature: float = 10_000.0) -> np.ndarray:
  """[1, h*w, width] fixed 2-d sine-cosine embedding (MoCo v3 / big_vision)."""
  if width % 4:
    raise ValueError(f"sincos2d needs a width divisible by 4, got {width}")
  y, x = np.mgrid[:h, :w]
  omega = 1.0 / temperature ** (np.arange(width // 4) / (width // 4 - 1 if width > 4 else 1))
  y = np.einsum("m,d->md", y.ravel(), omega)
  x = np.einsum("m,d->md", x.ravel(), omega)
  return np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1)[None].astype(np.float32)


class ViT(nnx.Module):
  """image uint8-or-float [B, H, W, 3] in [-1, 1] -> (pooled [B, num_classes or width], extras).

  extras["encoded"] holds the unpooled patch tokens [B, N, width] (for decoders that
  cross-attend to them) and extras["pre_logits"] the pooled features before the head.
  """

  def __init__(
      self,
      variant: str | None = None,
      *,
      image_size: int | tuple[int, int] = 224,
      patch_size: tuple[int, int] | None = None,
      width: int | None = None,
      depth: int | None = None,
      mlp_dim: int | None = None,
      num_heads: int | None = None,
      posemb: str = "learn",
      pool_type: str = "map",
      num_classes: int | None = None,
      head_zeroinit: bool = False,
      dtype: Any = "float32",
      remat: bool = False,
      attention: str | None = None,
      rngs: nnx.Rngs,
  ):
    dims = common.decode_variant(variant) if variant else {}
    for name, value in dict(width=width, depth=depth, mlp_dim=mlp_dim, num_heads=num_heads,
                            patch_size=patch_size).items():
      if value is not None:
        dims[name] = tuple(value) if name == "patch_size" else value
    missing = {"width", "depth", "mlp_dim", "num_heads", "patch_size"} - set(dims)
    if missing:
      raise ValueError(f"ViT needs {sorted(missing)} (give a variant such as 'B/16' or set them)")
    if pool_type not in POOL_TYPES:
      raise ValueError(f"pool_type must be one of {POOL_TYPES}, got {pool_type!r}")
    if posemb not in POSEMB_TYPES:
      raise ValueError(f"posemb must be one of {POSEMB_TYPES}, got {posemb!r}")
    image_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    ph, pw = dims["patch_size"]
    if image_size[0] % ph or image_size[1] % pw:
      raise ValueError(f"image size {image_size} is not a multiple of patch size {(ph, pw)}")
    self.width = width = dims["width"]
    self.grid = (image_size[0] // ph, image_size[1] // pw)
    self.pool_type = pool_type
    dtype = self.dtype = common.dtype_of(dtype)

    self.embedding = nnx.Conv(3, width, kernel_size=(ph, pw), strides=(ph, pw), padding="VALID", dtype=dtype,
                              param_dtype=jnp.float32, rngs=rngs)
    num_patches = self.grid[0] * self.grid[1]
    if posemb == "learn":
      init = nnx.initializers.normal(stddev=1 / np.sqrt(width))
      self.pos_embedding = nnx.Param(init(rngs.params(), (1, num_patches, width), jnp.float32))
    else:  # fixed: a constant, not a parameter
      self.pos_embedding = nnx.Variable(jnp.asarray(posemb_sincos_2d(*self.grid, width)))
    if pool_type == "tok":
      self.cls = nnx.Param(jnp.zeros((1, 1, width), jnp.float32))
    self.encoder = common.Encoder(width, dims["depth"], dims["mlp_dim"], dims["num_heads"], dtype=dtype,
                                  remat=remat, rngs=rngs, attention_impl=attention or common.DEFAULT_ATTENTION)
    self.map_head = (common.MAPHead(width, dims["mlp_dim"], dims["num_heads"], dtype=dtype, rngs=rngs,
                                   attention_impl=attention or common.DEFAULT_ATTENTION)
                     if pool_type == "map" else None)
    kernel_init = nnx.initializers.zeros if head_zeroinit else common.KERNEL_INIT
    self.head = (nnx.Linear(width, num_classes, dtype=dtype, param_dtype=jnp.float32, kernel_init=kernel_init,
                            rngs=rngs) if num_classes else None)

  def position_embedding(self, grid: tuple[int, int]) -> jax.Array:
    """[1, gh*gw, width]: the table itself at the training grid, bilinearly resized at any other.

    Lets one tower see images of another size (SILC's small local crops) with the
    relative layout of the positions it learned.
    """
    pe = self.pos_embedding[...]
    if tuple(grid) == self.grid:
      return pe
    pe = pe.reshape(1, *self.grid, self.width)
    return jax.image.resize(pe, (1, *grid, self.width), method="bilinear").reshape(1, grid[0] * grid[1], self.width)

  def __call__(self, image: jax.Array, *, patch_mask: jax.Array | None = None,
               mask_token: jax.Array | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
    """patch_mask [B, N] bool: those patch embeddings are replaced by mask_token [width] (masked prediction)."""
    if image.dtype == jnp.uint8:  # the input pipeline ships bytes: 4x less host->device traffic
      image = image.astype(jnp.float32) / 127.5 - 1.0
    x = self.embedding(image.astype(self.dtype))
    b, h, w, c = x.shape
    x = x.reshape(b, h * w, c)
    if patch_mask is not None:  # before the position embedding: the model still knows where it must predict
      x = jnp.where(patch_mask[..., None], mask_token.astype(x.dtype), x)
    x = x + self.position_embedding((h, w)).astype(x.dtype)
    if self.pool_type == "tok":
      x = jnp.concatenate([jnp.broadcast_to(self.cls[...].astype(x.dtype), (b, 1, c)), x], axis=1)
    x = self.encoder(x)
    extras = {"encoded": x[:, 1:] if self.pool_type == "tok" else x}
    if self.pool_type == "none":
      return x, extras
    x = common.pool(self.pool_type, x, self.map_head)
    extras["pre_logits"] = x
    return (self.head(x) if self.head is not None else x), extras
