#!/usr/bin/env bash
# The README's main job on the small sample scene (run by `make demo`):
# generate the sample -> prepare -> train (short, tiny backbone) -> predict (+ PNG quicklook, uncertainty)
# -> evaluate, then one round of the labelling loop: suggest -> label (here from the sample's truth, in
# QGIS for real) -> prepare with the new labels -> train --init-from -> predict -> evaluate.
# Everything goes to examples/out/ (git-ignored); rerunning replaces it.
set -euo pipefail
cd "$(dirname "$0")"
OUT=out
SAMPLE=$OUT/sample
EPOCHS=${CFIPT_DEMO_EPOCHS:-15}

echo "== 1/6 sample scene (seeded): $SAMPLE" >&2
python make_sample.py --out "$SAMPLE"

echo "== 2/6 cfipt prepare" >&2
cfipt prepare --hsi "$SAMPLE/hsi.tif" --lidar "$SAMPLE/dsm.tif" \
  --labels "$SAMPLE/labels.gpkg" --label-field class --train-per-class 40 \
  --out "$OUT/scene" --overwrite

echo "== 3/6 cfipt train (tiny random-weight backbone so that it runs on any CPU in about a minute)" >&2
cfipt train "$OUT/scene" --out "$OUT/model" --clip cfipt-tiny --pretrained none \
  --epochs "$EPOCHS" --overwrite

echo "== 4/6 cfipt predict" >&2
cfipt predict "$OUT/scene" --model "$OUT/model" --out "$OUT/map.tif" --quicklook "$OUT/map.png" \
  --uncertainty "$OUT/uncertainty.tif" --overwrite

echo "== 5/6 cfipt evaluate (test pixels of the scene; training pixels are never counted)" >&2
cfipt evaluate "$OUT/map.tif" --reference "$OUT/scene" --out "$OUT/report" --overwrite

echo "== 6/6 one round of the labelling loop" >&2
# the 25 pixels to label next, from the map and uncertainty raster of step 4 (no second model run)
cfipt suggest "$OUT/scene" --model "$OUT/model" -n 25 --map "$OUT/map.tif" --uncertainty "$OUT/uncertainty.tif" \
  --out "$OUT/suggestions.gpkg" --overwrite
python label_suggestions.py "$OUT/suggestions.gpkg" "$SAMPLE/truth.tif" --out "$OUT/labelled.gpkg"
# the same training and test pixels as before (the scene's label rasters) plus the labelled suggestions
cfipt prepare --hsi "$SAMPLE/hsi.tif" --lidar "$SAMPLE/dsm.tif" \
  --labels "$OUT/scene/train_labels.tif" --labels "$OUT/labelled.gpkg" --label-field class \
  --test-labels "$OUT/scene/test_labels.tif" --train-per-class all --out "$OUT/scene2" --overwrite
# --init-from takes the backbone and network settings from the model; fine-tuning: a lower peak rate
cfipt train "$OUT/scene2" --out "$OUT/model2" --init-from "$OUT/model" \
  --epochs "${CFIPT_DEMO_FINETUNE_EPOCHS:-10}" --lr 2e-4 --overwrite
cfipt predict "$OUT/scene2" --model "$OUT/model2" --out "$OUT/map2.tif" --overwrite
cfipt evaluate "$OUT/map2.tif" --reference "$OUT/scene2" --out "$OUT/report2" --overwrite
python loop_picture.py "$OUT/map.tif" "$OUT/uncertainty.tif" "$OUT/suggestions.gpkg" "$OUT/map2.tif" \
  --out "$OUT/loop.png"

echo "demo outputs: $OUT/map.tif (+ .aux.xml, .qml), $OUT/map.png, $OUT/report.{md,json,csv,png};" \
  "the round: $OUT/suggestions.gpkg (+ .qml), $OUT/map2.tif, $OUT/report2.*, $OUT/loop.png" >&2
