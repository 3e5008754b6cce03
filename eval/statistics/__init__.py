"""Statistics of an evaluation: agreement with the human answers, their confidence intervals and their nulls.

- ``bootstrap``: every random draw (bootstrap weights and indices, joint country permutations) and the one CI type;
- ``engine``: every cross-country number on the score grid next to its joint-permutation null, one CI each;
- ``metrics``: correlations, distribution distances, the descriptive tables of a run (``compute_summary``);
- ``grid``: model and human scores as aligned question x country arrays and the statistics on them;
- ``weighted``: weighted Pearson r and means (the bootstrap replicates as weights);
- ``western_slope``: the Western-bias verdict; ``western``: the per-country measures beyond the null (descriptions);
- ``country_knowledge``: the country-knowledge block of summary.json; ``multiple``: Holm and Benjamini-Hochberg;
- ``orders``: option-order spread; ``common_set``: the block of questions and countries runs share.

Pure functions of data frames and arrays: no model, no file output (that is the reporting room's job).
"""
from culturelens.eval.statistics.grid import ScoreGrid, score_grid
from culturelens.eval.statistics.metrics import compute_summary, pearson
from culturelens.eval.statistics.orders import order_spread
from culturelens.eval.statistics.western import gap_verdict, western_gap_summary

__all__ = ["ScoreGrid", "compute_summary", "gap_verdict", "order_spread", "pearson", "score_grid", "western_gap_summary"]
