#!/usr/bin/env bash
# The main job on bundled material, the journey of a new user:
#   inspect a pretrained model (a BatchNormalization CNN trained by
#   testdata/gen/pretrain_fmnist.py on Fashion-MNIST classes 0-4)
#   → fine-tune it on bundled images of five new classes (testdata/fmnist:
#     50 training and 20 test PNGs per class, real Fashion-MNIST images)
#   → evaluate → export ONNX and a Triton repository → verify → predict.
set -euo pipefail
cd "$(dirname "$0")/.."
GRAFT=${GRAFT:-bin/graft}
MODEL=testdata/models/fmnist_cnn.onnx
OUT=${DEMO_OUT:-$(mktemp -d)}
SECONDS=0

step() { echo; echo "\$ $*"; "$@"; }

step $GRAFT version
step $GRAFT inspect "$MODEL" --no-layers
step $GRAFT finetune "$MODEL" --data testdata/fmnist --num-classes 5 --freeze all-but-head \
  --optimizer adam --lr 1e-3 --epochs 30 --seed 0 -o "$OUT/tuned.onnx" --report-dir "$OUT/report" -q
step $GRAFT eval "$OUT/tuned.onnx" --data testdata/fmnist/test --confusion-png "$OUT/report/confusion.png"
step $GRAFT export "$OUT/tuned.onnx" --format triton --name fmnist -o "$OUT/triton"
if $GRAFT verify "$OUT/tuned.onnx" --against onnxruntime >"$OUT/verify.txt" 2>&1; then
  echo; echo "\$ $GRAFT verify $OUT/tuned.onnx --against onnxruntime"; cat "$OUT/verify.txt"
else
  echo; echo "(onnxruntime check skipped: $(tail -1 "$OUT/verify.txt"))"
fi
first() { ls "testdata/fmnist/test/$1" | head -1; }
step $GRAFT predict "$OUT/tuned.onnx" "testdata/fmnist/test/5-sandal/$(first 5-sandal)" \
  "testdata/fmnist/test/8-bag/$(first 8-bag)" "testdata/fmnist/test/9-ankle-boot/$(first 9-ankle-boot)" --top 2

acc=$($GRAFT eval "$OUT/tuned.onnx" --data testdata/fmnist/test --json | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p')

cat <<REPORT

== report ==
before: the pretrained model knows Fashion-MNIST classes 0-4 only; its head cannot name the new classes
after:  accuracy on the 100 bundled test images of the 5 new classes: $acc
files:  $OUT/tuned.onnx (fine-tuned, verified), $OUT/triton/fmnist (Triton repository),
        $OUT/report (metrics.csv, metrics.json, loss/accuracy curves, confusion matrix)
time:   ${SECONDS} s (after the build)
REPORT
