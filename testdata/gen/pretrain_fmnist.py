#!/usr/bin/python3
"""Pretrain graft's Fashion-MNIST CNN (classes 0-4) and export it to ONNX.

Run from anywhere with the Debian interpreter (torch 1.13, onnx, numpy) after
`apt-get install dataset-fashion-mnist`:

    /usr/bin/python3 testdata/gen/pretrain_fmnist.py

It trains a small CNN with BatchNormalization on all 30,000 Fashion-MNIST
training images of classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat),
prints its accuracy on the 5,000 test images of those classes, and writes

    testdata/models/fmnist_cnn.onnx                             opset 13
    testdata/models/fmnist_cnn/test_data_set_0/{input_0,output_0}.pb   batch 4

The model is the starting point of graft's fine-tuning acceptance test
(bench/pytorch_finetune.py is the PyTorch reference of that test): its conv
trunk is reused, its head (a 64->5 Gemm) is replaced for classes 5-9.

Architecture (input "input" [batch,1,28,28] float32, output "logits" [batch,5]):

    Conv(1->16, 3x3, pad 1) - BatchNormalization - Relu - MaxPool 2x2   28 -> 14
    Conv(16->32, 3x3, pad 1) - BatchNormalization - Relu - MaxPool 2x2  14 -> 7
    Conv(32->64, 3x3, pad 1) - BatchNormalization - Relu                7
    Flatten (64*7*7 = 3136, C,H,W order) - Gemm(3136 -> 5)

The head sees the flattened 7x7 feature map rather than a global average:
a linear probe on the 64 globally averaged channels only reaches ~87% on
classes 5-9 (the fine-tuning task), the flattened map ~92%.

Preprocessing (recorded in the model's metadata_props "graft.preprocess"):
pixel bytes p in 0..255 become x = (p/255 - 0.5)/0.5, i.e. in [-1, 1].
metadata_props "graft.classes" is the JSON list of the 5 class names.

BatchNormalization stays an inference-form node: the model is exported in
eval mode with training=TrainingMode.PRESERVE and do_constant_folding=False
(the script checks that three BatchNormalization nodes are present).

Recipe: Adam lr 1e-3 (1e-4 in the last epoch), batch 64, 5 epochs, PyTorch
default init, BN momentum 0.1 (PyTorch convention; the ONNX attribute reads
0.9), eps 1e-5. Test accuracy on classes 0-4: 0.9394. Takes ~75 s on an idle
2-core machine (2 threads); the ONNX file is ~160 KB. Re-running rewrites
bit-identical files (checked).

Deterministic: seeded, torch.set_num_threads(2),
torch.use_deterministic_algorithms(True); re-running rewrites identical
files on the same machine/torch build.
"""

import gzip
import json
import os
import sys
import time
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(os.path.dirname(HERE), "models")
FMNIST_DIR = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PRETRAIN_CLASSES = [0, 1, 2, 3, 4]

# Preprocessing: x = (p*SCALE - MEAN)/STD.
SCALE, MEAN, STD = 1.0 / 255.0, 0.5, 0.5
PREPROCESS = "scale=1/255,mean=0.5,std=0.5"

# Training recipe.
SEED = 0
EPOCHS = 5
BATCH = 64
LR = 1e-3          # Adam, betas (0.9, 0.999), eps 1e-8, no weight decay
LR_LAST = 1e-4     # lr of the last epoch (settles the BN running statistics)
FEATURES = 64 * 7 * 7
BN_MOMENTUM = 0.1  # PyTorch convention (running = 0.9*running + 0.1*batch)
BN_EPS = 1e-5


def read_idx(name):
    """Read a (possibly gzipped) IDX file from FMNIST_DIR as a numpy array."""
    path = os.path.join(FMNIST_DIR, name)
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file (magic %#x)" % (path, magic))
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def load_split(split):
    """Return (images uint8 [N,28,28], labels int64 [N]) of 'train' or 't10k'."""
    images = read_idx("%s-images-idx3-ubyte" % split)
    labels = read_idx("%s-labels-idx1-ubyte" % split).astype(np.int64)
    return images, labels


def preprocess(images):
    """uint8 [N,28,28] -> float32 [N,1,28,28] with graft.preprocess applied."""
    x = images.astype(np.float32)[:, None, :, :]
    return ((x * np.float32(SCALE) - np.float32(MEAN)) / np.float32(STD)).astype(np.float32)


class FmnistCNN(nn.Module):
    """The CNN described in the module docstring; `features` is the frozen trunk."""

    def __init__(self, num_classes=5):
        super().__init__()
        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1),
                    nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM),
                    nn.ReLU()]
        self.features = nn.Sequential(
            *block(1, 16), nn.MaxPool2d(2),
            *block(16, 32), nn.MaxPool2d(2),
            *block(32, 64),
            nn.Flatten())
        self.head = nn.Linear(FEATURES, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


def evaluate(model, x, y, batch=500):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def main():
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    np.random.seed(SEED)

    tr_img, tr_lab = load_split("train")
    te_img, te_lab = load_split("t10k")
    sel = np.isin(tr_lab, PRETRAIN_CLASSES)
    x_tr, y_tr = torch.from_numpy(preprocess(tr_img[sel])), torch.from_numpy(tr_lab[sel])
    sel = np.isin(te_lab, PRETRAIN_CLASSES)
    x_te, y_te = torch.from_numpy(preprocess(te_img[sel])), torch.from_numpy(te_lab[sel])
    print("train %d images, test %d images (classes %s)" % (len(x_tr), len(x_te), PRETRAIN_CLASSES))

    model = FmnistCNN(len(PRETRAIN_CLASSES))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(SEED)
    t0 = time.time()
    for epoch in range(EPOCHS):
        if epoch == EPOCHS - 1:
            for g in opt.param_groups:
                g["lr"] = LR_LAST
        model.train()
        perm = torch.randperm(len(x_tr), generator=gen)
        total = 0.0
        for i in range(0, len(perm), BATCH):
            idx = perm[i:i + BATCH]
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        acc = evaluate(model, x_te, y_te)
        print("epoch %d  loss %.4f  test acc %.4f  (%.1fs)" % (epoch + 1, total / len(x_tr), acc, time.time() - t0))
    test_acc = evaluate(model, x_te, y_te)
    print(json.dumps({"pretrain_test_accuracy_classes_0_4": round(test_acc, 4),
                      "train_seconds": round(time.time() - t0, 1)}))

    export(model, te_img, te_lab)


def export(model, te_img, te_lab):
    model.eval()
    path = os.path.join(MODELS, "fmnist_cnn.onnx")
    dummy = torch.zeros(1, 1, 28, 28)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, dummy, path, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=False)
    m = onnx.load(path)
    m.producer_name = "graft testdata/gen/pretrain_fmnist.py (pytorch %s)" % torch.__version__
    m.doc_string = ("Small BN CNN pretrained on Fashion-MNIST classes 0-4; "
                    "input: (pixel/255-0.5)/0.5, [batch,1,28,28]")
    del m.metadata_props[:]
    for k, v in [("graft.preprocess", PREPROCESS),
                 ("graft.classes", json.dumps([CLASS_NAMES[c] for c in PRETRAIN_CLASSES]))]:
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    n_bn = ops.count("BatchNormalization")
    if n_bn != 3:
        sys.exit("expected 3 BatchNormalization nodes, got %d: %s" % (n_bn, ops))
    for n in m.graph.node:
        if n.op_type == "BatchNormalization" and len(n.output) != 1:
            sys.exit("BatchNormalization %s has %d outputs (training form)" % (n.name, len(n.output)))
    onnx.save(m, path)
    print("wrote %s (%d bytes), ops: %s" % (path, os.path.getsize(path), " ".join(ops)))

    # Reference data: the first test image of each of classes 0..3.
    idx = [int(np.nonzero(te_lab == c)[0][0]) for c in range(4)]
    x = preprocess(te_img[idx])
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    d = os.path.join(MODELS, "fmnist_cnn", "test_data_set_0")
    os.makedirs(d, exist_ok=True)
    for name, arr, fn in [("input", x, "input_0.pb"), ("logits", y, "output_0.pb")]:
        with open(os.path.join(d, fn), "wb") as f:
            f.write(onnx.numpy_helper.from_array(arr, name).SerializeToString())
    print("wrote %s (test images %s, labels %s, argmax %s)" % (d, idx, te_lab[idx].tolist(), y.argmax(1).tolist()))


if __name__ == "__main__":
    main()
