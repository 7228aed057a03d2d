"""Quality-filtered pool balanced by M4: perceived gender against 42 occupations, keeping 90%."""

from webpairs.configs.curation import quality


def get_config():
  c = quality.get_config()
  c.name = "m4_balanced"
  b = c.balance
  b.enabled = True
  b.source = "annotations"  # annotate's keyword-lexicon indicators: female, male x 42 occupations
  b.pi = ()  # parity: both attributes at the pool's mean attribute share
  # Tolerances of the real alt-text audit (webpairs/balancing/README.md): keyword attributes
  # are in ~5% of captions and each occupation in < 0.5%, so E[(s - pi) y] is of order 1e-4.
  b.eps_rep = 0.002
  b.eps_assoc = 0.0001
  b.eta = 0.9
  # Soft: a pool where eta = 0.9 is infeasible still gets a selection, flagged in summary.json.
  # Feasible fits on real alt-text have duals below 1, so V = 10 leaves them equal to hard ones.
  b.V = 10.0
  return c
