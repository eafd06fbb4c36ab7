#!/usr/bin/env bash
# The demo: fetches ONNX Runtime (idempotent), builds edge-tool and scores the shipped sample scans
# with the shipped default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-ort.sh
cargo build --release --locked
model=models/bunny
echo "== edge-tool score on the sample scans of $model"
target/release/edge-tool score --model "$model" "$model"/samples/good.pcd "$model"/samples/defect.pcd
