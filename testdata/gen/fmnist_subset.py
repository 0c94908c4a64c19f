#!/usr/bin/python3
"""Write the small committed Fashion-MNIST subset used by graft's demo and tests.

Run from anywhere with the Debian interpreter after
`apt-get install dataset-fashion-mnist python3-pil`:

    /usr/bin/python3 testdata/gen/fmnist_subset.py

Classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot), in image-folder layout:

    testdata/fmnist/train/<folder>/<index>.png   first 50 images of each class
                                                 in the Fashion-MNIST training set
    testdata/fmnist/test/<folder>/<index>.png    first 20 images of each class
                                                 in the Fashion-MNIST test set
    testdata/fmnist/labels.txt                   display names, one a line, in
                                                 folder (= sorted) order

<folder> is 5-sandal, 6-shirt, 7-sneaker, 8-bag, 9-ankle-boot (sorted order
equals label order 0..4 of the fine-tuned head). <index> is the image's index
in its IDX file (0-based, zero-padded to 5 digits), so a file can be traced
back to the full dataset. PNGs are 8-bit grayscale 28x28, raw pixel bytes
(no preprocessing; white object on black as in the dataset).

Deterministic and idempotent: the output directory is recreated.
"""

import gzip
import os
import shutil

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "fmnist")
FMNIST_DIR = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")

# (label in Fashion-MNIST, folder name, display name)
CLASSES = [(5, "5-sandal", "Sandal"),
           (6, "6-shirt", "Shirt"),
           (7, "7-sneaker", "Sneaker"),
           (8, "8-bag", "Bag"),
           (9, "9-ankle-boot", "Ankle boot")]
PER_CLASS = {"train": 50, "test": 20}
IDX_SPLIT = {"train": "train", "test": "t10k"}


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
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    total = 0
    for split, n in PER_CLASS.items():
        images = read_idx("%s-images-idx3-ubyte" % IDX_SPLIT[split])
        labels = read_idx("%s-labels-idx1-ubyte" % IDX_SPLIT[split])
        for label, folder, _ in CLASSES:
            d = os.path.join(OUT, split, folder)
            os.makedirs(d)
            for i in np.nonzero(labels == label)[0][:n]:
                p = os.path.join(d, "%05d.png" % i)
                Image.fromarray(images[i], mode="L").save(p, optimize=True)
                total += os.path.getsize(p)
    with open(os.path.join(OUT, "labels.txt"), "w") as f:
        for _, _, name in CLASSES:
            f.write(name + "\n")
    print("wrote %s: %d train + %d test images, %d bytes of PNG"
          % (OUT, PER_CLASS["train"] * len(CLASSES), PER_CLASS["test"] * len(CLASSES), total))


if __name__ == "__main__":
    main()
