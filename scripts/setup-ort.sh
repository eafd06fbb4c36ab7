#!/usr/bin/env bash
# Fetches ONNX Runtime 1.31.1 from its PyPI wheel (a registry package: no CDN is needed), checks the
# shared library's sha256 and unpacks it to .ort/ARCH/. Idempotent: a verified library is kept.
# Usage: scripts/setup-ort.sh [ARCH]   (ARCH defaults to `uname -m`: x86_64 or aarch64)
#        scripts/setup-ort.sh x86_64-cuda   the onnxruntime-gpu wheel (CUDA execution provider,
#        255 MB): for `--providers cuda --ort-library .ort/x86_64-cuda/libonnxruntime.so.1.31.1`
#        on an x86_64 machine with an NVIDIA GPU; it needs CUDA 13 and cuDNN 9 on LD_LIBRARY_PATH
#        (a CUDA 13 PyTorch brings both: README.md "On a CUDA GPU").
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.31.1
arch=${1:-$(uname -m)}
package=onnxruntime platform=manylinux_2_28_$arch python_version=3.11
libs="libonnxruntime.so.$version libonnxruntime_providers_shared.so"
case "$arch" in
  x86_64)  sha=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3 ;;
  aarch64) sha=8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467 ;;
  x86_64-cuda)
    # onnxruntime-gpu's wheels are per Python version; the library inside does not depend on it
    sha=5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303
    package=onnxruntime-gpu platform=manylinux_2_28_x86_64 python_version=3.12
    libs="$libs libonnxruntime_providers_cuda.so" ;;
  *) echo "setup-ort: no pinned ONNX Runtime wheel for architecture '$arch'" >&2; exit 2 ;;
esac

dir=.ort/$arch
lib=$dir/libonnxruntime.so.$version
if [ -f "$lib" ] && echo "$sha  $lib" | sha256sum --check --status; then
  echo "setup-ort: $lib present and verified"
  exit 0
fi

python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "setup-ort: needs python3 with pip to fetch the onnxruntime wheel" >&2; exit 2; }
wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
echo "setup-ort: downloading $package==$version ($arch) from PyPI"
"$python" -m pip download --quiet --no-deps --only-binary=:all: \
  --platform "$platform" --python-version "$python_version" \
  -d "$wheels" "$package==$version"
mkdir -p "$dir"
"$python" - "$wheels" "$dir" $libs <<'PY'
import pathlib, sys, zipfile
wheels, out, names = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
(wheel,) = wheels.glob("onnxruntime*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in names:
        (out / name).write_bytes(z.read(f"onnxruntime/capi/{name}"))
PY
echo "$sha  $lib" | sha256sum --check --quiet || { rm -f "$lib"; echo "setup-ort: sha256 mismatch for $lib" >&2; exit 1; }
echo "setup-ort: installed $lib"
