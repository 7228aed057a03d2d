"""M4 (multi-modal moment matching): sampling probabilities that bound attribute-concept bias.

  fit = m4.fit(s, y, u, pi=..., eps_rep=..., eps_assoc=..., eta=...)   # or m4.fit_cells(stats, ...)
  keep = fit.keep(keys, s, y, u)                                       # deterministic per example
See DESIGN §4 and webpairs/balancing/README.md for the formulation.
"""

from webpairs.balancing.m4.cells import CellStats
from webpairs.balancing.m4.feasibility import max_feasible_eta
from webpairs.balancing.m4.feasibility import max_feasible_eta_cells
from webpairs.balancing.m4.hashing import key_uniform
from webpairs.balancing.m4.moments import bias_report
from webpairs.balancing.m4.moments import bias_vector
from webpairs.balancing.m4.solve import fit
from webpairs.balancing.m4.solve import fit_cells
from webpairs.balancing.m4.state import InfeasibleError
from webpairs.balancing.m4.state import M4Fit
from webpairs.balancing.m4.stream import StreamFitter

__all__ = [
    "CellStats", "InfeasibleError", "M4Fit", "StreamFitter", "bias_report", "bias_vector", "fit",
    "fit_cells", "key_uniform", "max_feasible_eta", "max_feasible_eta_cells",
]
