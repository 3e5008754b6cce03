"""Human reference answers: per (country, WVS question) the share of respondents per answer option and the mean score.

The human score of a country on a question follows the paper: r_k = share of the country's respondents who chose
option k (negative WVS codes -- don't know, no answer, not asked, missing -- dropped), score = sum_k r_k s_k with
s_k the question's scale values in [-1, 1] (``Question.scores``). Shares are unweighted.

Modules:
- ``model``: ``HumanReference`` (the table, views, subset/merge, JSON save/load);
- one reader per source, each returning a ``HumanReference`` whose rows name their ``source``:
  ``wvs_csv`` (raw WVS wave-7 respondent CSVs: distributions and means), ``shares_json`` (answer shares per
  country, question and code: distributions, n unknown), ``means_csv`` (country means on [-1, 1]);
- ``consistency``: where two sources overlap, how far apart they are (max |delta share|, |delta mean|);
- ``sources``: the readers in precedence order behind one interface (adding a source = one module + one line);
- ``loading``: the embedded default, ``load_reference`` (one spec) and ``build_reference`` (all sources merged);
- ``csv_io``, ``_common``: CSV sniffing/reading and small shared helpers.

A ``HumanReference`` holds only aggregates (never respondent rows) and is saved as compact JSON; the embedded default
(``culturelens/core/data/reference_default.json``) is rebuilt with ``culturelens data build-reference`` (the CLI's
printing lives in ``culturelens.cli``).
"""
from culturelens.core.reference._common import COLUMNS, COUNTRY_COLUMN, DECIMALS, WVS_CITATION, WVS_DOI
from culturelens.core.reference.loading import DEFAULT_FILE, build_reference, default_reference, load_reference
from culturelens.core.reference.means_csv import build_from_means_csv
from culturelens.core.reference.model import HumanReference, as_distribution
from culturelens.core.reference.shares_json import build_from_shares_json
from culturelens.core.reference.sources import SOURCES, Source
from culturelens.core.reference.wvs_csv import build_from_wvs_csv

__all__ = [
    "COLUMNS", "COUNTRY_COLUMN", "DECIMALS", "DEFAULT_FILE", "SOURCES", "WVS_CITATION", "WVS_DOI", "HumanReference",
    "Source", "as_distribution", "build_from_means_csv", "build_from_shares_json", "build_from_wvs_csv", "build_reference",
    "default_reference", "load_reference",
]
