#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with the wheels `benchmarks/gpu_check.py` needs on the GPU machine, which has
# Python 3.12, torch, timm, huggingface_hub, einops, safetensors, regex, typer and numpy but no network:
# the cp312 wheels of ../shared/wheels-cp312 plus attrs (rasterio and affine import it; it is not there).
# Run it here, where the package registry is reachable; the device tool then carries .whl (carry=[".whl"]).
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${1:-../shared/wheels-cp312}"
mkdir -p .whl
cp "$shared"/*.whl .whl/
python3 -m pip download -q --no-deps --only-binary=:all: --dest .whl attrs
ls .whl
