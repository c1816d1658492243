"""Writes rng_stream.json: NumPy's legacy stream (np.random.seed) for several seeds, with draws of
each kind interleaved so that the cached second normal of randn is carried across other draws,
and permutations of sizes on both sides of powers of two (the masked rejection's edges).

    /tmp/refenv/bin/python crates/nn-core/tests/data/rng_stream.py > crates/nn-core/tests/data/rng_stream.json
"""
import json

import numpy as np

SEEDS = [0, 1, 42, 1984, 2**31 - 1, 2**31, 2**32 - 1]
SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 33, 255, 256, 257, 300, 1000]

cases = []
for seed in SEEDS:
    np.random.seed(seed)
    steps = [
        {"op": "random", "n": 5, "values": np.random.random_sample(5).tolist()},
        # Three normals: the pair's second value stays cached across the permutations below.
        {"op": "randn", "n": 3, "values": np.random.randn(3).tolist()},
    ]
    for n in SIZES:
        steps.append({"op": "permutation", "n": n, "values": np.random.permutation(n).tolist()})
    steps.append({"op": "randn", "n": 4, "values": np.random.randn(4).tolist()})
    steps.append({"op": "random", "n": 2, "values": np.random.random_sample(2).tolist()})
    cases.append({"seed": seed, "steps": steps})

print(json.dumps({"numpy": np.__version__, "cases": cases}))
