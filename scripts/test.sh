#!/usr/bin/env bash
# The test command: fetches ONNX Runtime (idempotent), checks formatting, lints and docs, runs the
# Python tests that need no torch, and every Rust test of the workspace in release mode (the model
# tests run real inference; one build profile also keeps CI's compile time down).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-ort.sh
# The status page is tested in a real headless browser (tests/web.rs): Debian's chromium, installed
# when missing and apt can (CI runs as root); without it that test fails, it does not skip.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        echo "warning: chromium is missing and cannot be installed here; tests/web.rs will fail" >&2
    fi
fi
# MQTT publishing is tested against a real broker (tests/publish.rs): Debian's mosquitto, installed
# the same way; without it that test fails, it does not skip.
if [ ! -x /usr/sbin/mosquitto ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
    else
        echo "warning: mosquitto is missing and cannot be installed here; tests/publish.rs will fail" >&2
    fi
fi
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy (warnings are errors)"
cargo clippy --release --locked --workspace --all-targets -- -D warnings
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --release --locked --workspace --no-deps
# The Python tests that need no torch (tools/tests/test_geometry.py: the Python reference's
# reading, FPS, KNN and ICP), in a small venv of their own; the rest need tools/setup.sh.
echo "== Python tests without torch"
if [ ! -x .venv-tools-light/bin/python ]; then python3 -m venv .venv-tools-light; fi
.venv-tools-light/bin/python -m pip install -q --disable-pip-version-check -r tools/requirements-light.txt
.venv-tools-light/bin/python -m pytest -q -c tools/pyproject.toml tools/tests/test_geometry.py
echo "== cargo test"
cargo test --release --locked --workspace "$@"
