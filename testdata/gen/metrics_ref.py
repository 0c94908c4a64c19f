#!/usr/bin/env python3
"""Reference values for finetune/metrics, computed with scikit-learn.

Writes testdata/metrics/ref.json. Run from the repository root with the
Debian interpreter (python3-sklearn): /usr/bin/python3 testdata/gen/metrics_ref.py

Each case holds labels, scores (logits or probabilities, one row per
sample) and the values scikit-learn computes for them: accuracy, top-5
accuracy (when there are more than 5 classes), log loss, per-class and
averaged precision/recall/F1 (zero_division=0), the confusion matrix and the
classification_report text with 2 and 4 digits.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)


def softmax(x):
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def make_case(name, rng, n, c, names, probabilities, float32, no_support=None, never_pred=None):
    labels_pool = [k for k in range(c) if k != no_support]
    y = rng.choice(labels_pool, size=n)
    logits = rng.normal(0.0, 2.0, size=(n, c))
    logits[np.arange(n), y] += 1.5  # make the classifier better than chance
    if no_support is not None:
        # The class without samples is still predicted now and then.
        logits[: n // 6, no_support] += 6.0
    if never_pred is not None:
        logits[:, never_pred] = logits.min(axis=1) - 0.5
    if float32:
        logits = logits.astype(np.float32).astype(np.float64)
    scores = softmax(logits) if probabilities else logits
    if probabilities and float32:
        scores = scores.astype(np.float32).astype(np.float64)
    probs = scores if probabilities else softmax(logits)
    pred = scores.argmax(axis=1)
    labels = list(range(c))
    target_names = names if names else [str(k) for k in labels]

    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    avg = {}
    for kind in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(
            y, pred, labels=labels, average=kind, zero_division=0)
        avg[kind] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    out = {
        "name": name,
        "num_classes": c,
        "probabilities": probabilities,
        "float32": float32,
        "class_names": names,
        "labels": [int(v) for v in y],
        "scores": scores.tolist(),
        "accuracy": float(accuracy_score(y, pred)),
        "loss": float(log_loss(y, probs, labels=labels)),
        "per_class": [
            {"class": target_names[k], "precision": float(p[k]), "recall": float(r[k]),
             "f1": float(f[k]), "support": int(s[k])}
            for k in range(c)
        ],
        "macro_avg": avg["macro"],
        "weighted_avg": avg["weighted"],
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        "report_digits2": classification_report(
            y, pred, labels=labels, target_names=target_names, digits=2, zero_division=0),
        "report_digits4": classification_report(
            y, pred, labels=labels, target_names=target_names, digits=4, zero_division=0),
    }
    if c > 5:
        out["top5_accuracy"] = float(top_k_accuracy_score(y, scores, k=5, labels=labels))
    return out


def main():
    rng = np.random.default_rng(20261127)
    cases = [
        make_case("logits7_f32", rng, 80, 7,
                  ["cat", "dog", "bird", "airplane_long_name", "e", "f", "g"],
                  probabilities=False, float32=True, no_support=5, never_pred=6),
        make_case("probs3_f32", rng, 30, 3, None, probabilities=True, float32=True),
        make_case("logits10_f64", rng, 50, 10, None, probabilities=False, float32=False,
                  never_pred=2),
    ]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "metrics", "ref.json")
    with open(path, "w") as fh:
        json.dump({"sklearn_version": sklearn.__version__, "cases": cases}, fh, indent=1)
        fh.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
