#!/usr/bin/env bash
# Train, export and evaluate categories one after the other (one "lane").
#   tools/train_all.sh MINUTES cat1 cat2 ...
# Run two lanes in parallel on a 2-core machine, e.g.
#   nohup nice -n 10 tools/train_all.sh 15 bunny car horse > runs/laneA.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/shared/data/scanad-dev}
PY=tools/.venv/bin/python
MIN=$1; shift
EXTRA=${TRAIN_ARGS:---groups 512 --up-ratio 32}
for cat in "$@"; do
  echo "== $cat start $(date -u +%FT%TZ)"
  $PY tools/train.py --data "$DATA/$cat/train" --out "models/$cat" --minutes "$MIN" $EXTRA ${RESUME:-} || { echo "train $cat failed"; continue; }
  $PY tools/export.py --ckpt "models/$cat/ckpt.pt" --out "models/$cat" || { echo "export $cat failed"; continue; }
  $PY tools/evaluate.py --model "models/$cat" --data "$DATA/$cat" --write || echo "evaluate $cat failed"
  echo "== $cat done $(date -u +%FT%TZ)"
done
