"""Shared pieces of the numpy training scripts (tools/train_jet_tagger.py,
tools/train_deepsets.py): Adam, magnitude pruning, the epoch loop and the parameter export.

A network object has lists `W` (weights), `b` (biases) and `mask` (pruning masks, same
shapes as `W`), Adam state `m`, `v`, `t`, and methods `step(x, y, lr)` and `accuracy(x, y)`.
"""

import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W_FRAC, W_MIN, W_MAX = 6, -32, 31  # fixed<6,0> weights
B_FRAC, B_MIN, B_MAX = 5, -128, 127  # fixed<8,3> biases


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
