#!/usr/bin/env python3
"""Train the bundled Deep Sets jet tagger (models/deepsets.json) on synthetic particle-level jets.

    python3 tools/train_deepsets.py            # writes models/train/deepsets_params.json and
                                               # models/calib/deepsets{,_labels}.npy
    python3 models/generate.py                 # then rebuilds deepsets{,_16b}.json from them

Needs numpy only. Deterministic on a given machine and numpy version; the committed outputs are
the reference, this script documents how they were made.

## The data (SYNTHETIC)

Five classes (g, q, W, Z, t), equally likely. A jet has 1 (g, q), 2 (W, Z) or 3 (t) hard prongs
(one heavy jet in six loses a prong). The prongs share the jet pT (500 GeV plus an exponential
tail) and sit at an angular distance set by the jet mass (ΔR ≈ 2m/pT; W 80.4, Z 91.2, top 172
GeV, with a 10% resolution). Constituents: Poisson multiplicities g 42, q 26, W 34, Z 35, t 55,
each assigned to a prong, with an exponentially falling pT share and a Gaussian angular spread
around its prong (gluon prongs are wider). The 16 hardest constituents are kept, sorted by pT,
zero-padded. Features per constituent: (pT / jet pT · 16, Δη · 16, Δφ · 16) relative to the jet
axis, so that they use the input type fixed<12,6,RND,SAT> well.

## The network and its training

The architecture of models/deepsets.json: per-particle φ: 3 → 16 → 16 (ReLU), mean over the 16
particles, ρ: 16 → 16 (ReLU) → 5 logits; softmax cross-entropy, Adam. Weights are kept in the
fixed<6,0> range and ReLUs clip at the ufixed<8,3> ceiling from the start. Float training, magnitude
pruning per layer (25%, 75%, 50%, 50%), fine-tuning with the mask, then quantisation-aware
fine-tuning (straight-through estimator) with the deployed types: weights fixed<6,0>, biases
fixed<8,3>, ReLU outputs ufixed<8,3,RND,SAT>, the mean ufixed<10,3,RND,SAT>.
"""

import argparse
import os
import sys

import numpy as np

import qat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

N_PART = 16
LAYERS = (("phi1", 3, 16, 0.25), ("phi2", 16, 16, 0.75), ("rho1", 16, 16, 0.5),
          ("logits", 16, 5, 0.5))
from qat import q  # noqa: E402
A_FRAC, A_MAX = 5, 255  # ufixed<8,3,RND,SAT>
P_FRAC, P_MAX = 7, 1023  # ufixed<10,3,RND,SAT>
I_FRAC, I_MIN, I_MAX = 6, -2048, 2047  # fixed<12,6,RND,SAT>


def make_jets(rng, n):
    """`n` synthetic jets: (particles [n, 16, 3] float64, labels [n] int)."""
    y = rng.integers(0, 5, size=n)
    out = np.zeros((n, N_PART, 3))
    pt = 500.0 + rng.exponential(250.0, size=n)
    mass_c = np.array([0.0, 0.0, 80.4, 91.2, 172.0])
    mult_mean = np.array([42.0, 26.0, 34.0, 35.0, 55.0])
    for j in range(n):
        c = y[j]
        prongs = (1, 1, 2, 2, 3)[c]
        if prongs > 1 and rng.random() < 1.0 / 6.0:
            prongs -= 1
        if prongs == 1:
            axes = np.zeros((1, 2))
            share = np.ones(1)
        else:
            m = mass_c[c] * (1.0 + 0.1 * rng.normal())
            dr = 2.0 * max(m, 5.0) / pt[j]
            ang = rng.uniform(0.0, 2.0 * np.pi)
            share = rng.dirichlet(np.full(prongs, 3.0))
            offs = [np.array([np.cos(ang + 2.0 * np.pi * k / prongs),
                              np.sin(ang + 2.0 * np.pi * k / prongs)]) for k in range(prongs)]
            axes = np.array([dr * (0.5 + 0.5 * share[k]) * offs[k] for k in range(prongs)])
            axes -= (share[:, None] * axes).sum(axis=0)  # pT-weighted centre on the jet axis
        n_c = max(2, rng.poisson(mult_mean[c]))
        owner = rng.choice(len(share), size=n_c, p=share)
        z = rng.exponential(1.0, size=n_c) ** 2.2
        z /= z.sum()
        width = 0.09 if c == 0 else 0.05
        pos = axes[owner] + rng.normal(0.0, width, size=(n_c, 2)) * (1.0 - 0.7 * np.sqrt(z))[:, None]
        order = np.argsort(-z, kind="stable")[:N_PART]
        k = len(order)
        out[j, :k, 0] = z[order] * 16.0
        out[j, :k, 1:] = pos[order] * 16.0
    return out, y


class Net:
    def __init__(self, rng):
        self.W = [rng.normal(0.0, np.sqrt(2.0 / a), size=(a, b)) for _, a, b, _ in LAYERS]
        self.b = [np.zeros(b) for _, _, b, _ in LAYERS]
        self.mask = [np.ones_like(w) for w in self.W]
        self.quant = False
        qat.reset_adam(self)

    def params(self):
        return qat.masked_params(self)

    def act(self, z):
        # the float phase already clips at the ReLU type's ceiling, as the hardware does
        if self.quant:
            return q(z, A_FRAC, 0, A_MAX)
        return np.clip(z, 0.0, A_MAX / 2**A_FRAC)

    def act_grad(self, z):
        return (z > 0) & (z < (A_MAX + 0.5) / 2**A_FRAC)

    def forward(self, x):
        W, b = self.params()
        n = len(x)
        if self.quant:
            x = q(x, I_FRAC, I_MIN, I_MAX)
        h0 = x.reshape(n * N_PART, 3)
        z1 = h0 @ W[0] + b[0]
        h1 = self.act(z1)
        z2 = h1 @ W[1] + b[1]
        h2 = self.act(z2)
        pooled = h2.reshape(n, N_PART, -1).mean(axis=1)
        if self.quant:
            pooled = q(pooled, P_FRAC, 0, P_MAX)
        z3 = pooled @ W[2] + b[2]
        h3 = self.act(z3)
        logits = h3 @ W[3] + b[3]
        return logits, (h0, z1, h1, z2, h2, pooled, z3, h3)

    def step(self, x, y, lr):
        logits, (h0, z1, h1, z2, h2, pooled, z3, h3) = self.forward(x)
        W, _ = self.params()
        n = len(y)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = p
        g[np.arange(n), y] -= 1.0
        g /= n
        gw, gb = [None] * 4, [None] * 4
        gw[3], gb[3] = h3.T @ g, g.sum(axis=0)
        g = (g @ W[3].T) * self.act_grad(z3)
        gw[2], gb[2] = pooled.T @ g, g.sum(axis=0)
        g = g @ W[2].T  # d/d pooled; the mean spreads it evenly (STE through its rounding)
        g = np.repeat(g / N_PART, N_PART, axis=0) * self.act_grad(z2)
        gw[1], gb[1] = h1.T @ g, g.sum(axis=0)
        g = (g @ W[1].T) * self.act_grad(z1)
        gw[0], gb[0] = h0.T @ g, g.sum(axis=0)
        gw = [gr * m for gr, m in zip(gw, self.mask)]
        qat.adam(self, gw + gb, lr)
        qat.clip_weights(self)  # every phase: weights stay in the fixed<6,0> range

    def accuracy(self, x, y):
        return float((self.forward(x)[0].argmax(axis=1) == y).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--train", type=int, default=60000, help="training jets")
    ap.add_argument("--epochs", type=int, default=16, help="float epochs (pruned and QAT: half)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x_tr, y_tr = make_jets(rng, args.train)
    x_te, y_te = make_jets(rng, 4096)
    net = Net(rng)
    accs = qat.three_phases(net, x_tr, y_tr, x_te, y_te, rng, args.epochs,
                            [frac for _, _, _, frac in LAYERS])
    W, b = net.params()
    qat.export("deepsets", "Deep Sets", [name for name, _, _, _ in LAYERS], W, b,
               accs, "train_deepsets.py", args.seed, x_te, y_te,
               {"classes": ["g", "q", "W", "Z", "t"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
