#!/usr/bin/env bash
# The README's main job on the small sample scene (run by `make demo`):
# generate the sample -> prepare -> train (short, tiny backbone) -> predict (+ PNG quicklook) -> evaluate.
# Everything goes to examples/out/ (git-ignored); rerunning replaces it.
set -euo pipefail
cd "$(dirname "$0")"
OUT=out
SAMPLE=$OUT/sample
EPOCHS=${CFIPT_DEMO_EPOCHS:-15}

echo "== 1/5 sample scene (seeded): $SAMPLE" >&2
python make_sample.py --out "$SAMPLE"

echo "== 2/5 cfipt prepare" >&2
cfipt prepare --hsi "$SAMPLE/hsi.tif" --lidar "$SAMPLE/dsm.tif" \
  --labels "$SAMPLE/labels.gpkg" --label-field class --train-per-class 40 \
  --out "$OUT/scene" --overwrite

echo "== 3/5 cfipt train (tiny random-weight backbone so that it runs on any CPU in about a minute)" >&2
cfipt train "$OUT/scene" --out "$OUT/model" --clip cfipt-tiny --pretrained none \
  --epochs "$EPOCHS" --overwrite

echo "== 4/5 cfipt predict" >&2
cfipt predict "$OUT/scene" --model "$OUT/model" --out "$OUT/map.tif" --quicklook "$OUT/map.png" --overwrite

echo "== 5/5 cfipt evaluate (test pixels of the scene; training pixels are never counted)" >&2
cfipt evaluate "$OUT/map.tif" --reference "$OUT/scene" --out "$OUT/report" --overwrite

echo "demo outputs: $OUT/map.tif (+ .aux.xml), $OUT/map.png, $OUT/report.{md,json,csv,png}" >&2
