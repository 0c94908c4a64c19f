#!/usr/bin/env bash
# The main job on bundled material: inspect a bundled pretrained model, check
# it against the PyTorch reference outputs shipped with it, and run it on an
# input file, writing the outputs as .npy.
set -euo pipefail
cd "$(dirname "$0")/.."
GRAFT=${GRAFT:-bin/graft}
MODEL=testdata/models/resnet_small.onnx
OUT=${DEMO_OUT:-$(mktemp -d)}

echo "\$ graft version"
$GRAFT version
echo
echo "\$ graft inspect $MODEL"
$GRAFT inspect "$MODEL"
echo
echo "\$ graft run $MODEL --test-data testdata/models/resnet_small"
$GRAFT run "$MODEL" --test-data testdata/models/resnet_small
echo
echo "\$ graft run $MODEL --input input=testdata/models/resnet_small/test_data_set_0/input_0.pb --output-dir $OUT"
$GRAFT run "$MODEL" --input input=testdata/models/resnet_small/test_data_set_0/input_0.pb --output-dir "$OUT"
