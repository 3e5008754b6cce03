#!/usr/bin/env bash
# Wall time of scripts/setup.sh on a fresh clone (new virtualenv, empty model cache), with the load average before
# and after: run it on an IDLE machine (a loaded machine's time is meaningless). Writes benchmarks/results/setup_time.json.
#   bash benchmarks/setup_time.sh                 # the default setup (main job's model only)
#   SETUP_ARGS=--all-models bash benchmarks/setup_time.sh
# The package downloads come from the machine's pip configuration (its wheel cache may make them faster than a truly
# fresh machine: the JSON records whether pip's cache was used).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
git clone -q "$REPO" "$WORK/culturelens"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s.%N)
CULTURELENS_CACHE="$WORK/cache" VENV="$WORK/venv" bash "$WORK/culturelens/scripts/setup.sh" ${SETUP_ARGS:-} >"$WORK/setup.log" 2>&1
END=$(date +%s.%N)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p benchmarks/results
python3 - "$START" "$END" "$LOAD_BEFORE" "$LOAD_AFTER" "${SETUP_ARGS:-}" <<'PY'
import json, os, sys, platform
start, end, before, after, args = sys.argv[1:6]
out = {"what": "bash scripts/setup.sh " + args, "seconds": round(float(end) - float(start), 1), "goal_seconds": 180,
       "load_average_before": before, "load_average_after": after, "cpus": os.cpu_count(), "platform": platform.platform(),
       "pip_cache_dir_exists": os.path.isdir(os.path.expanduser("~/.cache/pip"))}
json.dump(out, open("benchmarks/results/setup_time.json", "w"), indent=2)
print(json.dumps(out, indent=2))
PY
