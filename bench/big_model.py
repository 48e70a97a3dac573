#!/usr/bin/env python3
"""Writes a large synthetic native model for memory/time measurements (docs/reliability.md).

    python3 bench/big_model.py N_WEIGHTS OUT.json [--prune 0.6] [--bits 6] [--rows 1]

Two dense layers sized so that the weight count is about N_WEIGHTS: n_in -> n_hidden -> 8,
with n_in = n_hidden = sqrt(N_WEIGHTS); `bits`-bit weights, `prune` of them zero (seeded).
`--rows R` gives the input R rows (the first dense layer is applied to each row).
"""
import argparse, json, math, random

ap = argparse.ArgumentParser()
ap.add_argument("weights", type=int)
ap.add_argument("out")
ap.add_argument("--prune", type=float, default=0.6)
ap.add_argument("--bits", type=int, default=6)
ap.add_argument("--rows", type=int, default=1)
a = ap.parse_args()
rng = random.Random(1)
n = max(1, int(math.sqrt(a.weights)))
lo, hi = -(1 << (a.bits - 1)), (1 << (a.bits - 1)) - 1

def w(k):
    return [0 if rng.random() < a.prune else rng.randint(lo, hi) for _ in range(k)]

shape = [a.rows, n] if a.rows > 1 else [n]
m = {
    "format": "rtl4ml-model", "version": 1, "name": f"big_{a.weights}",
    "inputs": [{"name": "x", "shape": shape, "type": "fixed<8,3,RND,SAT>"}],
    "layers": [
        {"name": "fc1", "kind": "dense",
         "weight": {"type": f"fixed<{a.bits},1>", "shape": [n, n], "data": w(n * n)},
         "result": "fixed<12,5,RND,SAT>"},
        {"name": "relu1", "kind": "relu", "result": "ufixed<8,4,RND,SAT>"},
        {"name": "fc2", "kind": "dense",
         "weight": {"type": f"fixed<{a.bits},1>", "shape": [n, 8], "data": w(n * 8)},
         "result": "fixed<16,8>"},
    ],
    "outputs": ["fc2"],
}
with open(a.out, "w") as f:
    json.dump(m, f)
print(f"{a.out}: {n}x{n} + {n}x8 = {n*n + 8*n} weights")
