#!/usr/bin/env python3
"""Writes the .npy fixtures in testdata/npy/ read by nn/npy_test.go.

Run from the repository root: /usr/bin/python3 testdata/gen/npy_fixtures.py
The values here are repeated in nn/npy_test.go; change both together.
"""
import os

import numpy as np

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "npy")
os.makedirs(out, exist_ok=True)

# float32 [2,3], format 1.0.
np.save(os.path.join(out, "f4_2x3.npy"),
        np.array([[1.5, -2.0, 0.25], [3.0, 1e-3, -7.5]], dtype="<f4"))

# int64 [4] with extreme values, format 1.0.
np.save(os.path.join(out, "i8_4.npy"),
        np.array([-(2**63), -1, 0, 2**63 - 1], dtype="<i8"))

# bool scalar, format 1.0.
np.save(os.path.join(out, "b1_scalar.npy"), np.array(True))

# float16 [3] and uint16 [2,0,2] (zero elements) in format 2.0 and 3.0.
with open(os.path.join(out, "f2_3_v2.npy"), "wb") as f:
    np.lib.format.write_array(f, np.array([0.5, -65504.0, 6e-8], dtype="<f2"), version=(2, 0))
with open(os.path.join(out, "u2_empty_v3.npy"), "wb") as f:
    np.lib.format.write_array(f, np.zeros((2, 0, 2), dtype="<u2"), version=(3, 0))
