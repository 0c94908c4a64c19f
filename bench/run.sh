#!/usr/bin/env bash
# make bench: graft vs onnxruntime inference latency, same process, same
# inputs, 2 threads, for the pure-Go build and (when OpenBLAS is installed)
# the openblas build. Never part of `make test`.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
MODELS=testdata/bench
THREADS=${THREADS:-2}
RUNS=${RUNS:-10}

if [ ! -e "$MODELS/resnet18.onnx" ]; then
  if /usr/bin/python3 -c 'import torch, torchvision, onnx' 2>/dev/null; then
    echo "== exporting benchmark models (torchvision, random weights) into $MODELS"
    /usr/bin/python3 testdata/gen/export_bench_models.py
  else
    echo "benchmark models missing and PyTorch is not installed:"
    echo "  apt-get install python3-torch python3-torchvision python3-onnx && /usr/bin/python3 testdata/gen/export_bench_models.py"
    exit 1
  fi
fi

echo "== pure-Go build"
go run ./bench/inference -models "$MODELS" -threads "$THREADS" -runs "$RUNS" "$@"
if ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so '; then
  echo
  echo "== openblas build"
  # graft parallelizes across its own goroutines; OpenBLAS gets the same
  # thread budget.
  OPENBLAS_NUM_THREADS=$THREADS go run -tags openblas ./bench/inference -models "$MODELS" -threads "$THREADS" -runs "$RUNS" "$@"
else
  echo "(OpenBLAS not installed: openblas build skipped; apt-get install libopenblas-dev)"
fi
