#!/usr/bin/env python3
"""Generate reference fixtures for graft's LSTM, GRU and RNN ops.

Writes testdata/rnn/cases.json. Cases PyTorch can express (forward and
bidirectional layers, initial states, packed sequences, batch_first) take
their expected outputs from torch.nn.LSTM/GRU/RNN in float64, with the
weights reordered into ONNX gate order. Features PyTorch lacks (peepholes,
clip, input_forget, linear_before_reset=0, other activations, zero-length
sequences) use the NumPy implementation of the ONNX equations below, which
is first checked against PyTorch on every torch case.

Run from the repository root: /usr/bin/python3 testdata/gen/rnn_ref.py
"""
import json
import os

import numpy as np
import torch

rng = np.random.default_rng(20261127)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "rnn", "cases.json")


def rnd(*shape, scale=0.6):
    # values exactly representable in float32
    return (rng.standard_normal(shape) * scale).astype(np.float32).astype(np.float64)


# ---------------------------------------------------------------- numpy ONNX
def act(name, x, alpha=None, beta=None):
    n = name.lower()
    if n == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if n == "tanh":
        return np.tanh(x)
    if n == "relu":
        return np.maximum(x, 0)
    if n == "hardsigmoid":
        a = 0.2 if alpha is None else alpha
        b = 0.5 if beta is None else beta
        return np.clip(a * x + b, 0, 1)
    if n == "leakyrelu":
        a = 0.01 if alpha is None else alpha
        return np.where(x >= 0, x, a * x)
    if n == "thresholdedrelu":
        a = 1.0 if alpha is None else alpha
        return np.where(x > a, x, 0)
    if n == "scaledtanh":
        a = 1.0 if alpha is None else alpha
        b = 1.0 if beta is None else beta
        return a * np.tanh(b * x)
    if n == "affine":
        a = 1.0 if alpha is None else alpha
        b = 0.0 if beta is None else beta
        return a * x + b
    if n == "elu":
        a = 1.0 if alpha is None else alpha
        return np.where(x >= 0, x, a * (np.exp(x) - 1))
    if n == "softsign":
        return x / (1 + np.abs(x))
    if n == "softplus":
        return np.log1p(np.exp(x))
    raise ValueError(name)


USES = {"hardsigmoid": (1, 1), "leakyrelu": (1, 0), "thresholdedrelu": (1, 0),
        "scaledtanh": (1, 1), "affine": (1, 1), "elu": (1, 0)}


def make_acts(names, alphas, betas):
    ai = bi = 0
    out = []
    for n in names:
        ua, ub = USES.get(n.lower(), (0, 0))
        a = b = None
        if ua and ai < len(alphas):
            a = alphas[ai]; ai += 1
        if ub and bi < len(betas):
            b = betas[bi]; bi += 1
        out.append(lambda x, n=n, a=a, b=b: act(n, x, a, b))
    return out


DEFAULT_ACTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def onnx_ref(op, attrs, X, W, R, B=None, lens=None, h0=None, c0=None, P=None):
    """Reference of the ONNX op; returns Y, Y_h, Y_c in the requested layout."""
    layout = attrs.get("layout", 0)
    if layout == 1:
        X = X.transpose(1, 0, 2)
        h0 = None if h0 is None else h0.transpose(1, 0, 2)
        c0 = None if c0 is None else c0.transpose(1, 0, 2)
    seq, batch, _ = X.shape
    H = attrs["hidden_size"]
    direction = attrs.get("direction", "forward")
    nd = 2 if direction == "bidirectional" else 1
    names = attrs.get("activations", DEFAULT_ACTS[op])
    if nd == 2 and len(names) == len(DEFAULT_ACTS[op]):
        names = names + names
    acts = make_acts(names, attrs.get("activation_alpha", []), attrs.get("activation_beta", []))
    per = len(DEFAULT_ACTS[op])
    clip = attrs.get("clip")
    cl = (lambda v: np.clip(v, -clip, clip)) if clip is not None else (lambda v: v)
    G = GATES[op]
    if lens is None:
        lens = [seq] * batch
    Y = np.zeros((seq, nd, batch, H))
    Yh = np.zeros((nd, batch, H))
    Yc = np.zeros((nd, batch, H))
    for d in range(nd):
        rev = direction == "reverse" or d == 1
        f = acts[d * per:(d + 1) * per]
        Wd, Rd = W[d], R[d]
        Bd = B[d] if B is not None else np.zeros(2 * G * H)
        Wb, Rb = Bd[:G * H], Bd[G * H:]
        for b in range(batch):
            h = h0[d, b].copy() if h0 is not None else np.zeros(H)
            c = c0[d, b].copy() if c0 is not None else np.zeros(H)
            L = lens[b]
            ts = range(L - 1, -1, -1) if rev else range(L)
            for t in ts:
                x = X[t, b]
                if op == "RNN":
                    h = f[0](cl(Wd @ x + Rd @ h + Wb + Rb))
                elif op == "GRU":
                    xw = Wd @ x
                    z = f[0](cl(xw[:H] + Rd[:H] @ h + Wb[:H] + Rb[:H]))
                    r = f[0](cl(xw[H:2 * H] + Rd[H:2 * H] @ h + Wb[H:2 * H] + Rb[H:2 * H]))
                    if attrs.get("linear_before_reset", 0):
                        hh = f[1](cl(xw[2 * H:] + r * (Rd[2 * H:] @ h + Rb[2 * H:]) + Wb[2 * H:]))
                    else:
                        hh = f[1](cl(xw[2 * H:] + Rd[2 * H:] @ (r * h) + Rb[2 * H:] + Wb[2 * H:]))
                    h = (1 - z) * hh + z * h
                else:
                    pre = Wd @ x + Rd @ h + Wb + Rb
                    Pd = P[d] if P is not None else np.zeros(3 * H)
                    i = f[0](cl(pre[:H] + Pd[:H] * c))
                    if attrs.get("input_forget", 0):
                        fg = 1 - i
                    else:
                        fg = f[0](cl(pre[2 * H:3 * H] + Pd[2 * H:] * c))
                    g = f[1](cl(pre[3 * H:]))
                    c = fg * c + i * g
                    o = f[0](cl(pre[H:2 * H] + Pd[H:2 * H] * c))
                    h = o * f[2](c)
                Y[t, d, b] = h
            if L > 0:
                Yh[d, b] = h
                Yc[d, b] = c
    if layout == 1:
        return Y.transpose(2, 0, 1, 3), Yh.transpose(1, 0, 2), Yc.transpose(1, 0, 2)
    return Y, Yh, Yc


# ------------------------------------------------------------------- torch
def torch_case(op, seq, batch, inp, H, bidir=False, init=False, lens=None, batch_first=False,
               nonlinearity="tanh", bias=True):
    """Run a torch layer; return ONNX-ordered inputs and torch outputs."""
    torch.manual_seed(int(rng.integers(1 << 30)))
    if op == "LSTM":
        m = torch.nn.LSTM(inp, H, bidirectional=bidir, batch_first=batch_first, bias=bias)
    elif op == "GRU":
        m = torch.nn.GRU(inp, H, bidirectional=bidir, batch_first=batch_first, bias=bias)
    else:
        m = torch.nn.RNN(inp, H, bidirectional=bidir, batch_first=batch_first, nonlinearity=nonlinearity, bias=bias)
    m = m.double()
    with torch.no_grad():  # float32-representable weights
        for p in m.parameters():
            p.copy_(p.float().double())
    nd = 2 if bidir else 1
    X = rnd(batch, seq, inp) if batch_first else rnd(seq, batch, inp)
    h0 = rnd(nd, batch, H) if init else None
    c0 = rnd(nd, batch, H) if (init and op == "LSTM") else None

    def reorder(w):
        if op == "LSTM":
            i, f, g, o = np.split(w, 4)
            return np.concatenate([i, o, f, g])
        if op == "GRU":
            r, z, n = np.split(w, 3)
            return np.concatenate([z, r, n])
        return w

    sfx = ["", "_reverse"][:nd]
    W = np.stack([reorder(getattr(m, "weight_ih_l0" + s).detach().numpy()) for s in sfx])
    R = np.stack([reorder(getattr(m, "weight_hh_l0" + s).detach().numpy()) for s in sfx])
    B = None
    if bias:
        B = np.stack([np.concatenate([reorder(getattr(m, "bias_ih_l0" + s).detach().numpy()),
                                      reorder(getattr(m, "bias_hh_l0" + s).detach().numpy())]) for s in sfx])
    xt = torch.from_numpy(X)
    state = None
    if init:
        state = (torch.from_numpy(h0), torch.from_numpy(c0)) if op == "LSTM" else torch.from_numpy(h0)
    with torch.no_grad():
        if lens is not None:
            packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lens), batch_first=batch_first,
                                                             enforce_sorted=False)
            yp, st = m(packed, state)
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, batch_first=batch_first, total_length=seq)
        else:
            y, st = m(xt, state)
    y = y.numpy()
    if op == "LSTM":
        yh, yc = st[0].numpy(), st[1].numpy()
    else:
        yh, yc = st.numpy(), None
    # torch Y: [seq, batch, nd*H] -> ONNX [seq, nd, batch, H]; batch_first: [batch, seq, nd*H] -> [batch, seq, nd, H]
    if batch_first:
        Y = y.reshape(batch, seq, nd, H)
        Yh = yh.transpose(1, 0, 2)
        Yc = None if yc is None else yc.transpose(1, 0, 2)
        h0o = None if h0 is None else h0.transpose(1, 0, 2)
        c0o = None if c0 is None else c0.transpose(1, 0, 2)
    else:
        Y = y.reshape(seq, batch, nd, H).transpose(0, 2, 1, 3)
        Yh, Yc, h0o, c0o = yh, yc, h0, c0
    return dict(X=X, W=W, R=R, B=B, lens=lens, h0=h0o, c0=c0o, Y=Y, Yh=Yh, Yc=Yc)


def enc(a, dtype="float32"):
    if a is None:
        return None
    a = np.asarray(a)
    if dtype == "int32":
        return {"dtype": dtype, "shape": list(a.shape), "data": [int(v) for v in a.ravel()]}
    fmt = "%.15g" if dtype == "float64" else "%.8g"
    return {"dtype": dtype, "shape": list(a.shape), "data": [float(fmt % v) for v in a.ravel()]}


cases = []


def add(name, op, attrs, ins, outs, source, opset=14, dtype="float32", tol=2e-5):
    X, W, R, B, lens, h0, c0, P = ins
    inputs = [enc(X, dtype), enc(W, dtype), enc(R, dtype), enc(B, dtype),
              enc(lens, "int32") if lens is not None else None, enc(h0, dtype)]
    if op == "LSTM":
        inputs += [enc(c0, dtype), enc(P, dtype)]
    while inputs and inputs[-1] is None:
        inputs.pop()
    outputs = [enc(o, dtype) for o in outs]
    cases.append({"name": name, "op": op, "opset": opset, "attrs": attrs, "source": source,
                  "tol": tol, "inputs": inputs, "outputs": outputs})


def check(ref, got, what):
    err = np.max(np.abs(np.asarray(ref) - np.asarray(got)))
    assert err < 1e-10, (what, err)


def from_torch(name, op, seq=4, batch=3, inp=2, H=3, bidir=False, init=False, lens=None, layout=0,
               nonlinearity="tanh", bias=True, reverse_only=False, dtype="float32"):
    r = torch_case(op, seq, batch, inp, H, bidir=bidir or reverse_only, init=init, lens=lens,
                   batch_first=layout == 1, nonlinearity=nonlinearity, bias=bias)
    attrs = {"hidden_size": H}
    if bidir:
        attrs["direction"] = "bidirectional"
    if layout:
        attrs["layout"] = 1
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    if op == "RNN" and nonlinearity == "relu":
        attrs["activations"] = ["Relu"] * (2 if bidir else 1)
    X, W, R, B, h0, c0, Y, Yh, Yc = (r[k] for k in ["X", "W", "R", "B", "h0", "c0", "Y", "Yh", "Yc"])
    if reverse_only:
        # keep the reverse half of a bidirectional torch layer
        attrs["direction"] = "reverse"
        sd = (slice(None), slice(1, 2)) if layout else (slice(1, 2),)
        W, R = W[1:], R[1:]
        B = None if B is None else B[1:]
        Y = Y[:, :, 1:] if layout else Y[:, 1:]
        Yh = Yh[sd]
        Yc = None if Yc is None else Yc[sd]
        h0 = None if h0 is None else h0[sd]
        c0 = None if c0 is None else c0[sd]
    ref = onnx_ref(op, attrs, X, W, R, B, lens, h0, c0)
    check(ref[0], Y, name + " Y")
    check(ref[1], Yh, name + " Y_h")
    if op == "LSTM":
        check(ref[2], Yc, name + " Y_c")
    outs = [Y, Yh] + ([Yc] if op == "LSTM" else [])
    add(name, op, attrs, (X, W, R, B, lens, h0, c0, None), outs, "torch", dtype=dtype,
        tol=1e-12 if dtype == "float64" else 2e-5)


def from_numpy(name, op, attrs, seq=4, batch=3, inp=2, bias=True, lens=None, init=False, peep=False,
               opset=14, wscale=0.6):
    H = attrs["hidden_size"]
    nd = 2 if attrs.get("direction") == "bidirectional" else 1
    G = GATES[op]
    X = rnd(seq, batch, inp)
    if attrs.get("layout", 0) == 1:
        X = rnd(batch, seq, inp)
    W = rnd(nd, G * H, inp, scale=wscale)
    R = rnd(nd, G * H, H, scale=wscale)
    B = rnd(nd, 2 * G * H) if bias else None
    sshape = (batch, nd, H) if attrs.get("layout", 0) == 1 else (nd, batch, H)
    h0 = rnd(*sshape) if init else None
    c0 = rnd(*sshape) if (init and op == "LSTM") else None
    P = rnd(nd, 3 * H) if peep else None
    Y, Yh, Yc = onnx_ref(op, attrs, X, W, R, B, lens, h0, c0, P)
    outs = [Y, Yh] + ([Yc] if op == "LSTM" else [])
    add(name, op, attrs, (X, W, R, B, lens, h0, c0, P), outs, "numpy", opset=opset)


for op in ["LSTM", "GRU", "RNN"]:
    lo = op.lower()
    from_torch(lo + "_forward", op)
    from_torch(lo + "_reverse_init", op, init=True, reverse_only=True)
    from_torch(lo + "_bidirectional_init", op, bidir=True, init=True)
    from_torch(lo + "_seqlens_bidirectional", op, bidir=True, init=True, lens=[4, 2, 3])
    from_torch(lo + "_seqlens_reverse", op, lens=[1, 4, 3], reverse_only=True)
    from_torch(lo + "_layout1_seqlens_bidirectional", op, bidir=True, init=True, layout=1, lens=[2, 4, 3])
    from_torch(lo + "_nobias", op, bias=False, batch=1, seq=2)
from_torch("rnn_relu_bidirectional", "RNN", bidir=True, init=True, nonlinearity="relu", seq=3, batch=1)
from_torch("lstm_forward_f64", "LSTM", init=True, lens=[3, 1], batch=2, seq=3, dtype="float64")
from_torch("gru_batch5_f64", "GRU", bidir=True, init=True, batch=5, seq=3, lens=[3, 1, 2, 3, 2], dtype="float64")
from_torch("gru_bidirectional_f64", "GRU", bidir=True, init=True, batch=1, seq=3, dtype="float64")

from_numpy("lstm_peepholes_clip", "LSTM", {"hidden_size": 4, "clip": 0.7}, peep=True, init=True, wscale=1.2)
from_numpy("lstm_input_forget_bidirectional", "LSTM",
           {"hidden_size": 4, "direction": "bidirectional", "input_forget": 1}, peep=True, init=True, lens=[4, 0, 2])
from_numpy("lstm_activations", "LSTM",
           {"hidden_size": 3, "direction": "bidirectional",
            "activations": ["HardSigmoid", "LeakyRelu", "ScaledTanh", "Sigmoid", "Softsign", "Elu"],
            "activation_alpha": [0.3, 0.05, 1.5, 0.8], "activation_beta": [0.4, 0.9]}, init=True)
from_numpy("gru_reset_before_seqlens", "GRU",
           {"hidden_size": 4, "direction": "bidirectional"}, init=True, lens=[3, 4, 1])
from_numpy("gru_reset_before_layout1_clip", "GRU",
           {"hidden_size": 4, "layout": 1, "clip": 0.5, "direction": "reverse"}, init=True, lens=[2, 4, 3], wscale=1.5)
from_numpy("gru_activations_opset7", "GRU",
           {"hidden_size": 3, "activations": ["Softplus", "Affine"], "activation_alpha": [0.7], "activation_beta": [0.1]},
           opset=7)
from_numpy("rnn_thresholded_relu_bidirectional", "RNN",
           {"hidden_size": 4, "direction": "bidirectional", "activations": ["ThresholdedRelu", "Affine"],
            "activation_alpha": [0.1, 0.5], "activation_beta": [0.2]}, init=True)
# batch >= 4 takes the packed-GEMM path with a transposed R
from_torch("lstm_batch5_seqlens", "LSTM", seq=3, batch=5, H=3, init=True, lens=[3, 1, 2, 3, 2])
from_numpy("gru_reset_before_batch5", "GRU", {"hidden_size": 3, "direction": "bidirectional"}, seq=3, batch=5,
           init=True, lens=[3, 2, 3, 1, 3])
from_numpy("rnn_zero_length", "RNN", {"hidden_size": 3}, init=True, lens=[0, 2, 4], opset=7)

with open(OUT, "w") as fh:
    json.dump({"generator": "testdata/gen/rnn_ref.py", "cases": cases}, fh, separators=(",", ":"))
print(len(cases), "cases,", os.path.getsize(OUT), "bytes")
