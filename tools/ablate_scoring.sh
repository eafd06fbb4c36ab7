#!/usr/bin/env bash
# Scoring ablation (issue 9): `edge-tool eval` of both detectors with each term of the surface
# rule switched off in turn, on copies of the shipped model folders (graphs linked, model.toml
# edited). Writes one JSON per variant and prints the mean rows.
#   tools/ablate_scoring.sh DATASET [OUT_DIR]      (edge-tool built: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: tools/ablate_scoring.sh DATASET [OUT_DIR]}
out=${2:-runs/ablate-scoring}
tool=target/release/edge-tool
declare -A variants=(
  [paper]='rule = "paper"'
  [no_surface]='surface_neighbours = 0'
  [no_smoothing]='smoothing = 1'
  [no_missing]='missing_material = false'
  [missing_no_support]='missing_support = 1'
  [top1]='top_points = 1'
  [full]=''
)
for name in full paper no_surface no_smoothing no_missing missing_no_support top1; do
  dir=$out/$name
  for model in models/*/; do
    part=$(basename "$model")
    [ -d "$data/$part" ] || continue
    mkdir -p "$dir/$part"
    for f in "$model"*; do ln -sf "$(realpath "$f")" "$dir/$part/"; done
    rm "$dir/$part/model.toml"
    # The variant's key replaces the shipped one in [scoring] (or is added there).
    python3 - "$model/model.toml" "$dir/$part/model.toml" "${variants[$name]}" <<'PY'
import re, sys
src, dst, line = sys.argv[1:]
text = open(src).read()
if line:
    key = line.split("=")[0].strip()
    head, rest = text.split("[scoring]\n", 1)
    body, tail = (rest.split("\n[", 1) + [""])[:2]
    body = "\n".join(l for l in body.splitlines() if l.split("=")[0].strip() != key)
    text = head + "[scoring]\n" + line + "\n" + body + ("\n[" + tail if tail else "\n")
open(dst, "w").write(text)
PY
  done
  "$tool" eval "$data" --models "$dir" --json "$out/$name.json" >"$out/$name.txt" 2>&1
  echo "== $name"; grep '^mean' "$out/$name.txt"
done
