#!/usr/bin/env bash
# The demo: fetches ONNX Runtime (idempotent), builds edge-tool, scores the shipped sample scans
# with the shipped default model, then runs the line daemon on them (`edge-tool run --demo`:
# replayed scans, simulated actuator, a journal in a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-ort.sh
cargo build --release --locked
model=models/bunny
echo "== edge-tool score on the sample scans of $model"
target/release/edge-tool score --model "$model" "$model"/samples/good.pcd "$model"/samples/defect.pcd
echo
echo "== edge-tool run --demo: the line daemon on the same scans and one cut off in transfer"
RUST_LOG=${RUST_LOG:-warn} target/release/edge-tool run --demo
