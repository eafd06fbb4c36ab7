#!/usr/bin/env bash
# Train and export parts into runs/<part>/ (copy a finished folder into models/<part>/ to ship it).
#   tools/train_all.sh [--device cpu|cuda] [--minutes M] [--jobs N] part1 part2 ...
# CPU default: one part after the other, 8 minutes each, 1 torch thread ("one lane"); run two
# lanes in parallel on a 2-core machine:
#   nohup nice -n 10 tools/train_all.sh bunny car horse   > runs/laneA.log 2>&1 &
#   nohup nice -n 10 tools/train_all.sh milk rocker turtle > runs/laneB.log 2>&1 &
# GPU: --device cuda trains all parts at once (--jobs 6, 4 minutes each: the kd-tree queries stay
# on the CPU cores, the GPU is shared):  tools/train_all.sh --device cuda bunny car horse milk rocker turtle
# EVAL=1 also runs tools/evaluate.py on each exported folder.
set -u
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/shared/data/scanad-dev}
PY=${PY:-tools/.venv/bin/python}
DEVICE=cpu MIN= JOBS=
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --minutes) MIN=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    *) break ;;
  esac
done
if [ "$DEVICE" = cuda ]; then MIN=${MIN:-4}; JOBS=${JOBS:-6}; else MIN=${MIN:-8}; JOBS=${JOBS:-1}; fi

one_part() {
  local cat=$1 out=runs/$1
  echo "== $cat start $(date -u +%FT%TZ)"
  mkdir -p "$out/samples"
  # ship the same golden samples as the current model folder, if there is one
  [ -d "models/$cat/samples" ] && cp -n models/"$cat"/samples/*.pcd "$out/samples/" 2>/dev/null
  $PY tools/train.py --data "$DATA/$cat/train" --out "$out" --minutes "$MIN" --device "$DEVICE" \
      ${TRAIN_ARGS:-} ${RESUME:+--resume} || { echo "train $cat failed"; return 1; }
  $PY tools/export.py --ckpt "$out/ckpt.pt" --out "$out" --name "$cat" || { echo "export $cat failed"; return 1; }
  if [ "${EVAL:-0}" = 1 ]; then
    $PY tools/evaluate.py --model "$out" --data "$DATA/$cat" --write || echo "evaluate $cat failed"
  fi
  echo "== $cat done $(date -u +%FT%TZ)"
}

for cat in "$@"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  if [ "$JOBS" -gt 1 ]; then one_part "$cat" > "runs/$cat.log" 2>&1 & else one_part "$cat"; fi
done
wait
