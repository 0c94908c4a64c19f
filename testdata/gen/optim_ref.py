"""Reference trajectories of PyTorch optimizers for graft's optimizer tests.

Writes testdata/optim/ref.json: for each optimizer configuration, the
initial weights, the gradients fed at each step and PyTorch's weights after
every step. Run with Debian's python3-torch: /usr/bin/python3 testdata/gen/optim_ref.py
"""
import json
import os

import torch

torch.manual_seed(0)
w0 = torch.randn(7).tolist()
grads = [torch.randn(7).tolist() for _ in range(5)]
configs = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99), eps=1e-6)),
    ("adamw", dict(lr=0.01, weight_decay=0.1)),
]
out = []
for name, kw in configs:
    p = torch.nn.Parameter(torch.tensor(w0))
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    opt = cls([p], **kw)
    traj = []
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
        traj.append(p.detach().tolist())
    kw = dict(kw)
    if "betas" in kw:
        kw["beta1"], kw["beta2"] = kw.pop("betas")
    out.append({"optimizer": name, "config": kw, "w0": w0, "grads": grads, "weights": traj})
path = os.path.join(os.path.dirname(__file__), "..", "optim", "ref.json")
with open(path, "w") as f:
    json.dump({"torch": torch.__version__, "cases": out}, f, indent=1)
print("wrote", path)

# Loss references: value and gradient w.r.t. the model output (mean over the batch).
torch.manual_seed(1)
logits = torch.randn(4, 5, dtype=torch.float64)
labels = torch.tensor([0, 3, 4, 1])
targets = torch.randn(4, 5, dtype=torch.float64)
losses = []
for name, fn in [
    ("ce", lambda x: torch.nn.functional.cross_entropy(x, labels)),
    ("ce_smooth0.1", lambda x: torch.nn.functional.cross_entropy(x, labels, label_smoothing=0.1)),
    ("bce", lambda x: torch.nn.functional.binary_cross_entropy_with_logits(x, torch.nn.functional.one_hot(labels, 5).double())),
    ("mse", lambda x: torch.nn.functional.mse_loss(x, targets)),
]:
    x = logits.clone().requires_grad_(True)
    l = fn(x)
    l.backward()
    losses.append({"loss": name, "value": l.item(), "grad": x.grad.flatten().tolist()})
path = os.path.join(os.path.dirname(__file__), "..", "optim", "loss_ref.json")
with open(path, "w") as f:
    json.dump({"logits": logits.flatten().tolist(), "labels": labels.tolist(), "targets": targets.flatten().tolist(), "cases": losses}, f, indent=1)
print("wrote", path)
