"""Statistics of an evaluation: agreement with the human answers, their confidence intervals and their nulls.

- ``metrics``: correlations, bootstrap CIs, distribution distances, the run's summary (``compute_summary``);
- ``grid``: model and human scores as aligned question x country arrays and the statistics on them;
- ``nulls``: permutation nulls (a predictor with no country knowledge) beside every cross-country number;
- ``western``: the Western-bias gap and its verdict; ``resample`` and ``shared_bootstrap``: two-way and shared
  bootstrap draws; ``country_knowledge``: the country-knowledge block of summary.json;
- ``orders``: option-order spread; ``common_set``: the block of questions and countries runs share.

Pure functions of data frames and arrays: no model, no file output (that is the reporting room's job).
"""
from culturelens.eval.statistics.grid import ScoreGrid, score_grid
from culturelens.eval.statistics.metrics import bootstrap_ci, compute_summary, pearson
from culturelens.eval.statistics.nulls import null_comparison, permutation_null
from culturelens.eval.statistics.orders import order_spread
from culturelens.eval.statistics.western import gap_verdict, western_gap_summary

__all__ = [
    "ScoreGrid", "bootstrap_ci", "compute_summary", "gap_verdict", "null_comparison", "order_spread", "pearson",
    "permutation_null", "score_grid", "western_gap_summary",
]
