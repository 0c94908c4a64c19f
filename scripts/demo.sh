#!/usr/bin/env bash
# The main job on bundled material: inspect a pretrained model (a BN CNN
# trained by testdata/gen/pretrain_fmnist.py on Fashion-MNIST classes 0-4),
# fine-tune it on bundled images of five new classes (testdata/fmnist: 50
# training and 20 test PNGs per class), evaluate, export a verified ONNX
# model and predict a few images with it.
set -euo pipefail
cd "$(dirname "$0")/.."
GRAFT=${GRAFT:-bin/graft}
MODEL=testdata/models/fmnist_cnn.onnx
OUT=${DEMO_OUT:-$(mktemp -d)}

step() { echo; echo "\$ $*"; "$@"; }

step $GRAFT version
step $GRAFT inspect "$MODEL" --no-layers
step $GRAFT run "$MODEL" --test-data testdata/models/fmnist_cnn
step $GRAFT finetune "$MODEL" --data testdata/fmnist --num-classes 5 --freeze all-but-head \
  --optimizer adam --lr 1e-2 --epochs 30 --seed 0 -o "$OUT/tuned.onnx" --report-dir "$OUT/report" -q
step $GRAFT eval "$OUT/tuned.onnx" --data testdata/fmnist/test
step $GRAFT predict "$OUT/tuned.onnx" testdata/fmnist/test/5-sandal/$(ls testdata/fmnist/test/5-sandal | head -1) \
  testdata/fmnist/test/8-bag/$(ls testdata/fmnist/test/8-bag | head -1) --top 3
echo
echo "outputs: $OUT/tuned.onnx, reports in $OUT/report"
