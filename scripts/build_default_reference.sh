#!/usr/bin/env bash
# Rebuild the embedded reference (culturelens/core/data/reference_default.json) from the shared WVS wave-7 data:
# 9 countries' respondent rows, 19 countries' answer shares, 55 countries' ethics means (precedence in that order).
#   bash scripts/build_default_reference.sh [DATA_DIR]     (default DATA_DIR: ../shared/data next to the repo)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/data}"
"${CULTURELENS:-$(dirname "$0")/../.venv/bin/culturelens}" data build-reference \
  --wvs-csv "$DATA"/wvs7_subset/{Argentina,Bangladesh,Brazil,China,Germany,Iraq,Jordan,Mexico,Turkey}.csv \
  --shares-json "$DATA/wvs7_shares19/proportions_group_by_country.json" \
  --means-csv "$DATA/wvs7_ethics55/country_question_means.csv" \
  --out culturelens/core/data/reference_default.json
