#!/usr/bin/python3
"""PyTorch reference for `make bench`: fine-tuning throughput.

    /usr/bin/python3 bench/pytorch_train_step.py MODEL MODE [--batch 16] [--runs 10] [--threads 2]

MODEL is a torchvision architecture (resnet18, mobilenet_v2); MODE is
"full" (every parameter trains, BatchNorm in training mode) or "last" (only
the last block and the classifier train: resnet18's layer4 + fc,
mobilenet_v2's features.17, features.18 + classifier; the frozen part runs
under no_grad with BatchNorm in eval mode, as Keras-style fine-tuning does).

One step is what graft bench --train times: forward at 224x224 on a random
batch, cross-entropy against random labels (1000 classes), backward, SGD
with momentum 0.9 (lr 1e-3). Weights are random (weights=None; there is no
network here and timing does not depend on them). After --warmup untimed
steps it times --runs steps and prints one JSON line: median ms per step,
samples/s, CPU time per step (all threads), the trainable and total
parameter counts and the process's peak
RSS (ru_maxrss) in MiB.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torchvision.models as tvm

LAST = {
    "resnet18": ["layer4", "fc"],
    "mobilenet_v2": ["features.17", "features.18", "classifier"],
    "efficientnet_b0": ["features.7", "features.8", "classifier"],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("mode", choices=["full", "last"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = getattr(tvm, a.model)(weights=None)
    params = list(model.parameters())
    if a.mode == "last":
        keep = tuple(p + "." for p in LAST[a.model])
        params = []
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith(keep)
            if p.requires_grad:
                params.append(p)
        model.eval()
        for name, m in model.named_modules():
            if name in LAST[a.model]:
                m.train()
    else:
        model.train()
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    x = torch.randn(a.batch, 3, 224, 224)
    y = torch.randint(0, 1000, (a.batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    times = []
    cpu0 = time.process_time()
    for _ in range(a.runs):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    med = statistics.median(times)
    print(json.dumps({
        "model": a.model, "mode": a.mode, "batch": a.batch, "threads": a.threads,
        "torch": torch.__version__, "median_ms": med * 1000,
        "samples_per_s": a.batch / med,
        "cpu_ms_per_step": cpu * 1000 / a.runs,
        "trainable_params": sum(p.numel() for p in params),
        "params": sum(p.numel() for p in model.parameters()),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
