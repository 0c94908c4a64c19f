#!/usr/bin/python3
"""Export torchvision benchmark models into testdata/bench/ (git-ignored).

    /usr/bin/python3 testdata/gen/export_bench_models.py [--keep-bn] [names...]

Exports resnet18, mobilenet_v2 and efficientnet_b0 with random, seeded
weights (weights=None: there is no network access here, and random weights
are as good as pretrained ones for timing), at 224x224 with a dynamic batch
axis (dim 0, "batch") on input and output, opset 13.

By default the export is the usual deployment form (eval mode,
TrainingMode.EVAL, constant folding: BatchNormalization is folded into the
convolutions). With --keep-bn the models keep inference-form
BatchNormalization nodes (eval mode, TrainingMode.PRESERVE, no constant
folding) and are written as NAME_bn.onnx.

BatchNorm affine parameters get distinct seeded values and the running
statistics are recomputed from random batches (see calibrate_bn), so that
activations keep a realistic scale and every BatchNorm parameter is its own
initializer, as in a pretrained model (the ONNX exporter of an eval-mode
model merges initializers with equal values: with torchvision's fresh
weight=1, bias=0 every BatchNorm of a stage would share one pair, and
fine-tuning would train fewer parameters than PyTorch does).

Next to each NAME.onnx it writes NAME/test_data_set_0 (batch 1) and
NAME/test_data_set_1 (batch 2) with PyTorch's outputs, in the ONNX test-data
layout. Deterministic and idempotent.
"""

import os
import sys
import time
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torchvision
import torchvision.models as tvm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "bench")

MODELS = ["resnet18", "mobilenet_v2", "efficientnet_b0"]
BATCHES = [1, 2]


def save_tensor(arr, name, path):
    t = onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def calibrate_bn(model, batches=4, size=8):
    """Randomize BatchNorm affine parameters, then set the running statistics
    from a few random batches.

    Fresh torchvision BatchNorms all have weight 1 and bias 0, which the
    exporter deduplicates into shared initializers (Identity nodes); seeded
    weight ~ U(0.75, 1.25) and bias ~ U(-0.1, 0.1) keep them distinct.

    With torchvision's fresh initialisation (running mean 0, variance 1)
    the eval-mode activations of mobilenet_v2 and efficientnet_b0 shrink to
    ~1e-15 at the output, which makes numerical comparisons meaningless.
    Recomputing the statistics (cumulative average over random inputs) keeps
    activations at a realistic scale."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in bns:
            if m.affine:
                m.weight.uniform_(0.75, 1.25)
                m.bias.uniform_(-0.1, 0.1)
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(size, 3, 224, 224))
    for m in bns:
        m.momentum = 0.1


def export(name, seed, keep_bn):
    ctor = getattr(tvm, name, None)
    if ctor is None:
        print("%s: not available in torchvision %s, skipped" % (name, torchvision.__version__))
        return
    torch.manual_seed(seed)
    model = ctor(weights=None)
    calibrate_bn(model)
    model.eval()
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((b, 3, 224, 224)).astype(np.float32) for b in BATCHES]

    out_name = name + ("_bn" if keep_bn else "")
    path = os.path.join(OUT, out_name + ".onnx")
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.from_numpy(inputs[0]),), path,
            opset_version=13,
            training=(torch.onnx.TrainingMode.PRESERVE if keep_bn
                      else torch.onnx.TrainingMode.EVAL),
            do_constant_folding=not keep_bn,
            input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    m = onnx.load(path)
    onnx.checker.check_model(m)
    for i, x in enumerate(inputs):
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        d = os.path.join(OUT, out_name, "test_data_set_%d" % i)
        os.makedirs(d, exist_ok=True)
        save_tensor(x, m.graph.input[0].name, os.path.join(d, "input_0.pb"))
        save_tensor(y, m.graph.output[0].name, os.path.join(d, "output_0.pb"))
    ops = sorted({n.op_type for n in m.graph.node})
    print("%-20s %4d nodes %9d bytes  %.1fs  ops: %s" % (
        out_name, len(m.graph.node), os.path.getsize(path), time.time() - t0, " ".join(ops)))


def main():
    args = sys.argv[1:]
    keep_bn = "--keep-bn" in args
    names = [a for a in args if not a.startswith("--")] or MODELS
    os.makedirs(OUT, exist_ok=True)
    print("torch %s, torchvision %s" % (torch.__version__, torchvision.__version__))
    for i, name in enumerate(MODELS):
        if name in names:
            export(name, 4321 + i, keep_bn)


if __name__ == "__main__":
    main()
