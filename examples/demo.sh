#!/usr/bin/env bash
# The README's main job on the small sample scene; run by `make demo`.
set -euo pipefail
cd "$(dirname "$0")"
echo "demo: not complete yet" >&2
