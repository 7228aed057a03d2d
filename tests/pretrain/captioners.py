"""A tiny Captioner for tests, initialised in one jitted program (eager init compiles each initialiser)."""

from __future__ import annotations

import jax
from flax import nnx

from webpairs.pretrain import models

VOCAB, LEN, IMAGE = 50, 8, 16


def tiny_captioner(seed: int = 0, *, random_logits: bool = True) -> models.Captioner:
  """mu/8 encoder on 16 px images, a one-block decoder; random logit weights unless random_logits=False
  (zero-initialised logits make every prediction uniform, which hides what the tests look for)."""
  build = lambda: models.build("captioner", rngs=nnx.Rngs(seed), image=dict(variant="mu/8", image_size=IMAGE),
                               decoder={}, vocab_size=VOCAB, max_len=LEN)
  graphdef, _ = nnx.split(nnx.eval_shape(build))
  model = nnx.merge(graphdef, jax.jit(lambda: nnx.split(build())[1])())
  if random_logits:
    kernel = model.decoder.head.kernel
    kernel[...] = jax.random.normal(jax.random.PRNGKey(seed + 1), kernel.shape)
  return model
