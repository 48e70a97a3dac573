"""Shared pieces of the numpy training scripts (tools/train_jet_tagger.py,
tools/train_egamma_id.py, tools/train_deepsets.py): Adam, magnitude pruning, the epoch loop,
the parameter export and the dense ReLU network (`MLP`) of the first two.

A network object has lists `W` (weights), `b` (biases) and `mask` (pruning masks, same
shapes as `W`), Adam state `m`, `v`, `t`, and methods `step(x, y, lr)` and `accuracy(x, y)`.
"""

import argparse
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W_FRAC, W_MIN, W_MAX = 6, -32, 31  # fixed<6,0> weights
B_FRAC, B_MIN, B_MAX = 5, -128, 127  # fixed<8,3> biases


def q(x, frac, lo, hi):
    """Round to nearest (ties up) on the grid 2^-frac, mantissa clamped to [lo, hi] (SAT)."""
    return np.clip(np.floor(x * 2**frac + 0.5), lo, hi) / 2**frac


def masked_params(net):
    """The weights (pruning mask applied) and biases of `net`, quantised once `net.quant`."""
    W = [w * m for w, m in zip(net.W, net.mask)]
    if net.quant:
        return ([q(w, W_FRAC, W_MIN, W_MAX) for w in W],
                [q(b, B_FRAC, B_MIN, B_MAX) for b in net.b])
    return W, list(net.b)


def reset_adam(net):
    net.m = [np.zeros_like(p) for p in net.W + net.b]
    net.v = [np.zeros_like(p) for p in net.W + net.b]
    net.t = 0


def adam(net, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    """One Adam step on `net.W + net.b` with `grads` (the same order)."""
    net.t += 1
    for i, (par, gr) in enumerate(zip(net.W + net.b, grads)):
        net.m[i] = b1 * net.m[i] + (1 - b1) * gr
        net.v[i] = b2 * net.v[i] + (1 - b2) * gr * gr
        mh = net.m[i] / (1 - b1**net.t)
        vh = net.v[i] / (1 - b2**net.t)
        par -= lr * mh / (np.sqrt(vh) + eps)


def clip_weights(net):
    """Keep the latent weights near the fixed<6,0> range."""
    for w in net.W:
        np.clip(w, (W_MIN - 1) / 2**W_FRAC, (W_MAX + 1) / 2**W_FRAC, out=w)


def prune(net, fracs):
    """Magnitude pruning: layer k keeps all but the `fracs[k]` smallest surviving weights."""
    for k, (w, frac) in enumerate(zip(net.W, fracs)):
        n_zero = int(frac * w.size + 0.5)
        order = np.argsort(np.abs(w * net.mask[k]), axis=None, kind="stable")
        mask = np.ones(w.size)
        mask[order[:n_zero]] = 0.0
        net.mask[k] = mask.reshape(w.shape)


def train(net, x, y, rng, epochs, lr, label, batch=256):
    for e in range(epochs):
        order = rng.permutation(len(y))
        for s in range(0, len(y), batch):
            idx = order[s:s + batch]
            net.step(x[idx], y[idx], lr)
        print("  %s epoch %d: train accuracy %.4f" % (label, e + 1, net.accuracy(x, y)),
              flush=True)


def three_phases(net, x_tr, y_tr, x_te, y_te, rng, epochs, fracs):
    """Float training, magnitude pruning (`fracs` per layer) with fine-tuning, then
    quantisation-aware fine-tuning (`net.quant = True`). Returns the test accuracies after
    each phase."""
    print("float training", flush=True)
    train(net, x_tr, y_tr, rng, epochs, 2e-3, "float")
    acc_float = net.accuracy(x_te, y_te)
    prune(net, fracs)
    print("pruned fine-tuning", flush=True)
    train(net, x_tr, y_tr, rng, max(1, epochs // 2), 1e-3, "pruned")
    acc_pruned = net.accuracy(x_te, y_te)
    net.quant = True
    reset_adam(net)
    print("quantisation-aware fine-tuning", flush=True)
    train(net, x_tr, y_tr, rng, max(1, epochs // 2), 5e-4, "QAT")
    acc_q = net.accuracy(x_te, y_te)
    print("test accuracy: float %.4f, pruned %.4f, quantised %.4f" % (acc_float, acc_pruned, acc_q))
    return acc_float, acc_pruned, acc_q


def export(name, title, names, W, b, accs, script, seed, x_test, y_test, extra=None):
    """Write models/train/<name>_params.json (weight and bias mantissas per layer) and the
    held-out test set as models/calib/<name>.npy (float32, one row per sample) and
    models/calib/<name>_labels.npy (int32)."""
    layers = []
    for lname, w, bb in zip(names, W, b):
        wm = np.rint(w * 2**W_FRAC).astype(int)
        bm = np.rint(bb * 2**B_FRAC).astype(int)
        layers.append({"name": lname, "weight": [int(v) for v in wm.reshape(-1)],
                       "bias": [int(v) for v in bm]})
        print("%s: %d of %d weights nonzero" % (lname, int((wm != 0).sum()), wm.size))
    params = {
        "about": "Trained %s parameters (mantissas; weight fixed<6,0> row-major [inputs, "
                 "outputs], bias fixed<8,3>), written by tools/%s --seed %d; read by "
                 "models/generate.py." % (title, script, seed),
        "test_accuracy": {k: round(v, 4) for k, v in zip(("float", "pruned", "quantised"), accs)},
    }
    params.update(extra or {})
    params["layers"] = layers
    os.makedirs(os.path.join(ROOT, "models", "train"), exist_ok=True)
    with open(os.path.join(ROOT, "models", "train", name + "_params.json"), "w") as f:
        f.write(json.dumps(params, separators=(", ", ": ")) + "\n")
    np.save(os.path.join(ROOT, "models", "calib", name + ".npy"),
            x_test.reshape(len(x_test), -1).astype("<f4"))
    np.save(os.path.join(ROOT, "models", "calib", name + "_labels.npy"), y_test.astype("<i4"))
    print("wrote models/train/%s_params.json, models/calib/%s{,_labels}.npy" % (name, name))


class MLP:
    """Dense ReLU network `sizes[0] -> ... -> sizes[-1]` (logits out), softmax cross-entropy.
    Quantised (`quant`): weights fixed<6,0>, biases fixed<8,3>, ReLU outputs on the grid
    2^-act_frac clamped to [0, act_max] (RND, SAT), inputs on the grid 2^-in_frac with
    `in_bits` signed bits (RND, SAT); hidden sums stay exact. The backward pass is the
    straight-through estimator, zero where a ReLU output saturates."""

    def __init__(self, rng, sizes, act_frac, act_max, in_frac, in_bits):
        self.W = [rng.normal(0.0, np.sqrt(2.0 / a), size=(a, b)) for a, b in zip(sizes, sizes[1:])]
        self.b = [np.zeros(b) for b in sizes[1:]]
        self.mask = [np.ones_like(w) for w in self.W]
        self.quant = False
        self.act_frac, self.act_max = act_frac, act_max
        self.in_frac, self.in_lo, self.in_hi = in_frac, -(2**(in_bits - 1)), 2**(in_bits - 1) - 1
        reset_adam(self)

    def params(self):
        return masked_params(self)

    def forward(self, x):
        W, b = self.params()
        if self.quant:
            x = q(x, self.in_frac, self.in_lo, self.in_hi)
        acts, pre = [x], []
        h = x
        for k in range(len(W)):
            z = h @ W[k] + b[k]
            pre.append(z)
            if k + 1 < len(W):
                h = q(z, self.act_frac, 0, self.act_max) if self.quant else np.maximum(z, 0.0)
                acts.append(h)
            else:
                h = z
        return h, acts, pre

    def step(self, x, y, lr):
        logits, acts, pre = self.forward(x)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = p
        g[np.arange(len(y)), y] -= 1.0
        g /= len(y)
        W, _ = self.params()
        grads_w, grads_b = [None] * len(W), [None] * len(W)
        for k in reversed(range(len(W))):
            grads_w[k] = acts[k].T @ g * self.mask[k]
            grads_b[k] = g.sum(axis=0)
            if k:
                g = g @ W[k].T
                z = pre[k - 1]
                if self.quant:  # STE through the rounding, zero where the cast saturates
                    g = g * ((z > 0) & (z < (self.act_max + 0.5) / 2**self.act_frac))
                else:
                    g = g * (z > 0)
        adam(self, grads_w + grads_b, lr)
        if self.quant:  # keep latent weights near the representable range
            clip_weights(self)

    def accuracy(self, x, y):
        return float((self.forward(x)[0].argmax(axis=1) == y).mean())


def mlp_main(argv, doc, name, title, script, make, seed, n_train, epochs, mlp, prune, extra):
    """The command line of an MLP training script: `make(rng, n)` draws `n` labelled samples
    (the training set, then 10000 held-out test samples), the features are standardised with
    the training set's mean and standard deviation, `MLP(rng, *mlp)` goes through
    `three_phases` with `prune` per layer, and `export` writes the parameters and the test
    set."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--train", type=int, default=n_train, help="training samples")
    ap.add_argument("--epochs", type=int, default=epochs, help="float epochs (pruned and QAT: half)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    x_tr, y_tr = make(rng, args.train)
    x_te, y_te = make(rng, 10000)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    x_tr = (x_tr - mean) / std
    x_te = (x_te - mean) / std

    net = MLP(rng, *mlp)
    accs = three_phases(net, x_tr, y_tr, x_te, y_te, rng, args.epochs, [prune] * len(net.W))

    W, b = net.params()
    export(name, title, ["fc%d" % k for k in range(1, len(W) + 1)], W, b, accs, script,
           args.seed, x_te, y_te, extra)
    return 0
