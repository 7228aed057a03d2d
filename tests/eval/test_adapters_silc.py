"""A SILC checkpoint (student, EMA teacher, centres, DINO heads) evaluates like a two-tower: the adapter embeds
with the student's towers, and `webpairs eval` runs on it."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np

from tests.pretrain.curated_images import write_curated_images
from webpairs import cli
from webpairs.demo import synthetic
from webpairs.eval import images
from webpairs.pretrain.inference import loader as inference_loader
from webpairs.pretrain import checkpoint as ckpt_lib
from webpairs.configs import loader
from webpairs.pretrain import trainer
from webpairs.pretrain.objectives.silc.model import with_teacher
from webpairs.tokenizers import Tokenizer, train_tokenizer


def test_silc_checkpoint_through_the_adapter_and_cli(tmp_path, capsys):
  write_curated_images(tmp_path / "train", 32, seed=0, shard_size=32)
  train_tokenizer(str(tmp_path / "train"), tmp_path / "tok", 400, num_threads=2)
  config = loader.load_config(loader.PRETRAIN,
                              f"silc:tiny,batch=8,steps=2,num_local=1,max_len=16,shards={tmp_path / 'train'},"
                              f"tokenizer={tmp_path / 'tok'}")
  config.input.num_workers = 0
  config.ckpt_every, config.log_every = 2, 1
  config.silc.update(teacher_momentum=0.5)  # the teacher then differs from the student after a step
  trainer.train(config, str(tmp_path / "work"))

  model, step = inference_loader.load_checkpoint(str(tmp_path / "work"))
  assert step == 2
  synthetic.write_eval_set(tmp_path / "data" / "synthetic", 24, seed=0)
  files = sorted(str(p) for p in (tmp_path / "data" / "synthetic" / "images").iterdir())[:4]
  batch = next(images.batches(files, model.image_size, 4))
  got = model.embed_images(batch)

  # The same checkpoint restored by hand: the adapter's embeddings are the student's, not the teacher's.
  tr = trainer.Trainer(config, vocab_size=Tokenizer.load(str(tmp_path / "tok")).vocab_size)
  ckpt = ckpt_lib.Checkpointer(str(tmp_path / "work" / ckpt_lib.CHECKPOINT_DIR), every=1, keep=3)
  try:
    state, _ = ckpt.restore(2, tr.abstract_with_shardings())
  finally:
    ckpt.close()
  image = jnp.asarray(batch)
  student = np.asarray(tr._model(state["params"], tr.consts)(image, None)[0])
  teacher = np.asarray(tr._model(with_teacher(state["params"], state["teacher"]), tr.consts)(image, None)[0])
  np.testing.assert_allclose(got, student, atol=1e-5)
  assert not np.allclose(got, teacher, atol=1e-4)

  assert cli.main(["eval", "--workdir", str(tmp_path / "work"), "--evals", "synthetic_zeroshot",
                   "--data-root", str(tmp_path / "data"), "--batch-size", "8"]) == 0
  assert "| synthetic_zeroshot | accuracy |" in capsys.readouterr().out
  record = json.loads((tmp_path / "work" / "eval" / "2.json").read_text())
  assert 0 <= record["metrics"]["synthetic_zeroshot/accuracy"] <= 1
