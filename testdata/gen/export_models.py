#!/usr/bin/python3
"""Export graft's small reference models and their ONNX test data.

Run from anywhere with the Debian interpreter (torch 1.13, onnx, numpy):

    /usr/bin/python3 testdata/gen/export_models.py

For every model NAME it writes

    testdata/models/NAME.onnx
    testdata/models/NAME/test_data_set_0/{input_0.pb,output_0.pb}   batch 3
    testdata/models/NAME/test_data_set_1/{input_0.pb,output_0.pb}   batch 1

in the layout of ONNX's own test data (serialized TensorProto, named after the
graph input/output). Outputs are computed by PyTorch in eval mode. Every model
has a dynamic batch axis (dim 0, named "batch") on its input and output.

BatchNormalization is kept as an inference-form node (one output) by
exporting the model in eval mode with training=TrainingMode.PRESERVE and
do_constant_folding=False; with TrainingMode.EVAL torch folds BN into the
preceding Conv, and with a model in train mode it exports training-mode BN
(five outputs).

The script is deterministic (every model and input is seeded) and
idempotent (it overwrites its outputs). It also writes
testdata/models/MODELS.md with each model's opset, op types and sizes.
"""

import os
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "models")


# ---------------------------------------------------------------- models


class LeNet(nn.Module):
    """Classic LeNet-5: Conv/Relu/MaxPool twice, then three Gemm layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + idt)


class ResNetSmall(nn.Module):
    """Tiny ResNet: stem, two basic blocks (one downsampling), GAP, Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


class MobileNetBlock(nn.Module):
    """MobileNetV2 inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project."""

    def __init__(self, cin=8, expand=4):
        super().__init__()
        hid = cin * expand
        self.expand = nn.Sequential(
            nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6())
        self.dw = nn.Sequential(
            nn.Conv2d(hid, hid, 3, 1, 1, groups=hid, bias=False),
            nn.BatchNorm2d(hid), nn.ReLU6())
        self.project = nn.Sequential(
            nn.Conv2d(hid, cin, 1, bias=False), nn.BatchNorm2d(cin))

    def forward(self, x):
        return x + self.project(self.dw(self.expand(x)))


class SEBlock(nn.Module):
    """Conv + ReLU followed by squeeze-and-excitation gating."""

    def __init__(self, c=16, r=4):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        x = F.relu(self.conv(x))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(self.pool(x)))))
        return x * s


class ShuffleNetShuffle(nn.Module):
    """Grouped 1x1 conv, channel shuffle (Reshape/Transpose/Reshape), conv."""

    def __init__(self, c=8, groups=2):
        super().__init__()
        self.g = groups
        self.conv1 = nn.Conv2d(c, 16, 1, groups=groups)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, groups=groups)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        b, c, h, w = x.size()
        x = x.view(b, self.g, c // self.g, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        x = x.view(b, -1, h, w)
        return self.conv2(x)


class TransformerEncoder(nn.Module):
    """One nn.TransformerEncoderLayer (d_model 32, 2 heads, GELU), batch first."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(
            d_model=32, nhead=2, dim_feedforward=64, dropout=0.0,
            activation="gelu", batch_first=True)

    def forward(self, x):
        return self.layer(x)


class LSTMClassifier(nn.Module):
    """Embedding -> 1-layer LSTM -> Linear on the last hidden state."""

    def __init__(self, vocab=50, emb=16, hid=24, classes=5):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hid, batch_first=True)
        self.fc = nn.Linear(hid, classes)

    def forward(self, tokens):
        _, (h, _) = self.lstm(self.emb(tokens))
        return self.fc(h[-1])


class GRUClassifier(nn.Module):
    """Bidirectional 2-layer GRU over float features -> Linear."""

    def __init__(self, feat=8, hid=16, classes=4):
        super().__init__()
        self.gru = nn.GRU(feat, hid, num_layers=2, batch_first=True,
                          bidirectional=True)
        self.fc = nn.Linear(2 * hid, classes)

    def forward(self, x):
        _, h = self.gru(x)  # h: [layers*2, batch, hid]
        return self.fc(torch.cat([h[-2], h[-1]], dim=1))


# ---------------------------------------------------------------- helpers


def randomize_bn(model, gen):
    """Give BatchNorm layers non-trivial statistics and affine parameters."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)


def float_input(shape):
    def make(batch, rng):
        return rng.standard_normal((batch,) + shape).astype(np.float32)
    return make


def token_input(length, vocab):
    def make(batch, rng):
        return rng.integers(0, vocab, size=(batch, length), dtype=np.int64)
    return make


# name, constructor, input maker, opset
MODELS = [
    ("lenet", LeNet, float_input((1, 28, 28)), 13),
    ("resnet_small", ResNetSmall, float_input((3, 32, 32)), 13),
    ("mobilenet_block", MobileNetBlock, float_input((8, 16, 16)), 13),
    ("se_block", SEBlock, float_input((16, 8, 8)), 13),
    ("shufflenet_shuffle", ShuffleNetShuffle, float_input((8, 8, 8)), 13),
    ("transformer_encoder", TransformerEncoder, float_input((10, 32)), 13),
    ("transformer_encoder_opset17", TransformerEncoder, float_input((10, 32)), 17),
    ("lstm_classifier", LSTMClassifier, token_input(12, 50), 13),
    ("gru_classifier", GRUClassifier, float_input((12, 8)), 13),
]

BATCHES = [3, 1]  # test_data_set_0, test_data_set_1


def save_tensor(arr, name, path):
    t = onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def export(name, ctor, make_input, opset, seed):
    torch.manual_seed(seed)
    model = ctor()
    randomize_bn(model, torch.Generator().manual_seed(seed + 1000))
    model.eval()
    rng = np.random.default_rng(seed)
    inputs = [make_input(b, rng) for b in BATCHES]

    path = os.path.join(OUT, name + ".onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.from_numpy(inputs[0]),), path,
            opset_version=opset,
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=False,
            input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})

    m = onnx.load(path)
    onnx.checker.check_model(m)
    for i, x in enumerate(inputs):
        with torch.no_grad():
            y = model(torch.from_numpy(x)).numpy()
        d = os.path.join(OUT, name, "test_data_set_%d" % i)
        os.makedirs(d, exist_ok=True)
        save_tensor(x, m.graph.input[0].name, os.path.join(d, "input_0.pb"))
        save_tensor(y, m.graph.output[0].name, os.path.join(d, "output_0.pb"))

    opsets = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    ops = sorted({n.op_type for n in m.graph.node})
    bn = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
    if any(len(n.output) != 1 for n in bn):
        sys.exit("%s: training-mode BatchNormalization exported" % name)
    if isinstance(ctor(), (ResNetSmall, MobileNetBlock)) and not bn:
        sys.exit("%s: BatchNormalization was folded away" % name)
    return {
        "name": name, "opsets": opsets, "ops": ops,
        "nodes": len(m.graph.node), "size": os.path.getsize(path),
        "in": [inputs[0].dtype.name, list(inputs[0].shape)],
        "out": list(y.shape[1:]),
    }


def write_dtype_model():
    """testdata/ortref/dtypes.onnx: Identity over one input per element type
    (dynamic first dim except for the half floats, whose outputs
    onnxruntime_go can only return with a static shape) plus a rank-0
    ReduceSum output "sum" of the float32 input. Used by internal/ortref."""
    from onnx import TensorProto as TP, helper as h
    types = [("float32", TP.FLOAT), ("float64", TP.DOUBLE), ("int64", TP.INT64),
             ("int32", TP.INT32), ("int16", TP.INT16), ("int8", TP.INT8),
             ("uint8", TP.UINT8), ("uint16", TP.UINT16), ("uint32", TP.UINT32),
             ("uint64", TP.UINT64), ("bool", TP.BOOL), ("float16", TP.FLOAT16),
             ("bfloat16", TP.BFLOAT16)]
    inputs, outputs, nodes = [], [], []
    for name, dt in types:
        shape = [2, 3] if name in ("float16", "bfloat16") else ["batch", 3]
        inputs.append(h.make_tensor_value_info(name, dt, shape))
        outputs.append(h.make_tensor_value_info("out_" + name, dt, shape))
        nodes.append(h.make_node("Identity", [name], ["out_" + name]))
    nodes.append(h.make_node("ReduceSum", ["float32"], ["sum"], keepdims=0))
    outputs.append(h.make_tensor_value_info("sum", TP.FLOAT, []))
    g = h.make_graph(nodes, "dtypes", inputs, outputs)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)], producer_name="graft")
    m.ir_version = 8
    onnx.checker.check_model(m)
    d = os.path.join(os.path.dirname(OUT), "ortref")
    os.makedirs(d, exist_ok=True)
    onnx.save(m, os.path.join(d, "dtypes.onnx"))


def main():
    write_dtype_model()
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    rows = []
    for i, (name, ctor, make_input, opset) in enumerate(MODELS):
        r = export(name, ctor, make_input, opset, seed=1234 + i)
        rows.append(r)
        print("%-28s opset %s  %3d nodes  %7d bytes  ops: %s" % (
            name, r["opsets"], r["nodes"], r["size"], " ".join(r["ops"])))

    lines = [
        "# Reference models",
        "",
        "Generated by `testdata/gen/export_models.py` (torch %s, onnx %s); do not edit."
        % (torch.__version__, onnx.__version__),
        "Each model has a dynamic batch axis; test_data_set_0 uses batch 3,",
        "test_data_set_1 batch 1. Outputs come from PyTorch (eval mode).",
        "",
        "| model | opset | nodes | bytes | input (batch 3) | op types |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| %s | %s | %d | %d | %s %s | %s |" % (
            r["name"], ", ".join("%s %d" % kv for kv in sorted(r["opsets"].items())),
            r["nodes"], r["size"], r["in"][0], r["in"][1], " ".join(r["ops"])))
    with open(os.path.join(OUT, "MODELS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
