#!/usr/bin/env bash
# The test command: fetches ONNX Runtime (idempotent) and runs every Rust test, in release mode
# (the model tests run real inference; one build profile also keeps CI's compile time down).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-ort.sh
cargo test --release --locked "$@"
