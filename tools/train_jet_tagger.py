#!/usr/bin/env python3
"""Train the bundled jet tagger (models/jet_tagger.json) on a synthetic jet-substructure dataset.

    python3 tools/train_jet_tagger.py          # writes models/train/jet_tagger_params.json and
                                               # models/calib/jet_tagger{,_labels}.npy
    python3 models/generate.py                 # then rebuilds jet_tagger{,_16b}.json from them

Needs numpy only. Deterministic on a given machine and numpy version (seeded PCG64, one thread
of arithmetic per operation); the committed outputs are the reference, the script documents how
they were made.

## The data (SYNTHETIC, not the hls4ml LHC jet dataset, which needs internet to fetch)

Five classes as in the hls4ml jet-tagging benchmark: gluon, light quark, W, Z and top jets,
equally likely. Each jet gets latent physics quantities drawn per class:

- groomed mass (GeV): g, q a falling spectrum (lognormal, median 25 / 18 GeV); W N(80.4, 9²),
  Z N(91.2, 9²) (the resolution makes W and Z overlap, as in the real data), top N(172, 18²);
  one heavy jet in six loses a prong in grooming and falls to the light-jet spectrum;
- prong structure: two-prong (W, Z) and three-prong (top) jets have low N2/N3-like ratios,
  one-prong jets high ones;
- constituent multiplicity: Poisson means g 42, q 26, W 34, Z 35, t 55;
- a jet pT drawn from one common spectrum (so pT itself does not separate the classes).

The 16 features are the hls4ml feature list (zlogz, c1/c2/d2/m2/n2 energy-correlation ratios at
β = 1, 2, groomed mass, multiplicity) computed as noisy, non-linear functions of these latents,
then standardised with the training set's mean and standard deviation. A float classifier
reaches about the accuracy of the real benchmark (≈ 75%): W/Z and g/q overlap.

## The network and its training

16 → 64 → 32 → 32 → 5 with ReLU, softmax cross-entropy, Adam:
1. float training;
2. magnitude pruning to 60% zeros per layer, fine-tuned with the mask;
3. quantisation-aware fine-tuning (straight-through estimator) with the deployed types:
   weights fixed<6,0>, biases fixed<8,3>, ReLU outputs ufixed<8,4,RND,SAT>, input
   fixed<16,6,RND,SAT>; hidden dense results are wide (fixed<18,8>) and kept exact here.
The final weight and bias mantissas go to models/train/jet_tagger_params.json; models/generate.py
builds the native models from them. The calibration set is 10000 jets of the held-out test
split (float32 features) with their true labels in a second file.
"""

import sys

import numpy as np

import qat


CLASSES = ("g", "q", "W", "Z", "t")
FEATURES = (
    "zlogz", "c1_b0_mmdt", "c1_b1_mmdt", "c1_b2_mmdt", "c2_b1_mmdt", "c2_b2_mmdt",
    "d2_b1_mmdt", "d2_b2_mmdt", "d2_a1_b1_mmdt", "d2_a1_b2_mmdt", "m2_b1_mmdt", "m2_b2_mmdt",
    "n2_b1_mmdt", "n2_b2_mmdt", "mass_mmdt", "multiplicity",
)
SIZES = (16, 64, 32, 32, 5)
A_FRAC, A_MAX = 4, 255  # ufixed<8,4,RND,SAT>
PRUNE = 0.6


def make_jets(rng, n):
    """`n` synthetic jets: (features [n, 16] float64, labels [n] int)."""
    y = rng.integers(0, 5, size=n)
    pt = 500.0 + rng.exponential(250.0, size=n)  # GeV, same spectrum for all classes
    light = (y == 0) | (y == 1)
    # groomed mass
    mass = np.empty(n)
    med = np.where(y == 0, 25.0, 18.0)
    mass[light] = (med * np.exp(rng.normal(0.0, 0.55, size=n)))[light]
    centre = np.array([0.0, 0.0, 80.4, 91.2, 172.0])[y]
    width = np.array([1.0, 1.0, 9.0, 9.0, 18.0])[y]
    heavy_mass = centre + width * rng.normal(size=n)
    lost = (~light) & (rng.random(n) < 1.0 / 6.0)
    mass[~light] = heavy_mass[~light]
    mass[lost] = (30.0 * np.exp(rng.normal(0.0, 0.5, size=n)))[lost]
    mass = np.clip(mass, 1.0, 300.0)
    # prong structure: 1, 2 or 3 hard prongs (a lost prong looks like one fewer)
    prongs = np.array([1, 1, 2, 2, 3])[y] - lost.astype(int)
    prongs = np.maximum(prongs, 1)
    mult = rng.poisson(np.array([42.0, 26.0, 34.0, 35.0, 55.0])[y]).astype(float)
    rho = np.log(mass**2 / pt**2)  # dimensionless mass
    # ratios: tau21-/tau32-like quantities, low for the jet's own prong count
    r21 = np.where(prongs >= 2, 0.25, 0.55) + 0.15 * rng.normal(size=n)
    r32 = np.where(prongs >= 3, 0.35, 0.70) + 0.15 * rng.normal(size=n)
    r21 = np.clip(r21, 0.02, 1.2)
    r32 = np.clip(r32, 0.02, 1.2)
    gluonish = np.where(y == 0, 1.0, 0.0) + 0.35 * rng.normal(size=n)
    spread = 0.1 + 0.02 * mult + 0.15 * rng.normal(size=n)  # radiation spread
    noise = lambda s: s * rng.normal(size=n)  # noqa: E731
    f = np.empty((n, 16))
    f[:, 0] = -2.0 - 0.35 * gluonish - 0.02 * mult + noise(0.3)  # zlogz
    f[:, 1] = 0.1 * spread + 0.05 * rho + noise(0.05)  # c1_b0
    f[:, 2] = 0.02 * spread * np.exp(0.5 * rho) + noise(0.005)  # c1_b1
    f[:, 3] = 0.01 * spread * np.exp(rho) + noise(0.002)  # c1_b2
    f[:, 4] = 0.15 + 0.25 * r21 + 0.05 * gluonish + noise(0.04)  # c2_b1
    f[:, 5] = 0.10 + 0.30 * r21 * r21 + noise(0.04)  # c2_b2
    f[:, 6] = 1.0 + 2.0 * r21 + 0.4 * gluonish + noise(0.3)  # d2_b1
    f[:, 7] = 1.0 + 3.0 * r21 * r21 + 0.8 * r32 + noise(0.4)  # d2_b2
    f[:, 8] = 0.8 + 1.6 * r21 + 0.5 * r32 + noise(0.25)  # d2_a1_b1
    f[:, 9] = 0.8 + 2.2 * r21 * r32 + noise(0.3)  # d2_a1_b2
    f[:, 10] = 0.05 + 0.08 * r32 + 0.03 * r21 + noise(0.02)  # m2_b1
    f[:, 11] = 0.02 + 0.05 * r32 * r32 + noise(0.015)  # m2_b2
    f[:, 12] = 0.10 + 0.30 * r21 + 0.10 * r32 + noise(0.05)  # n2_b1
    f[:, 13] = 0.08 + 0.25 * r21 * r21 + 0.15 * r32 + noise(0.05)  # n2_b2
    f[:, 14] = mass * (1.0 + noise(0.03))  # mass_mmdt
    f[:, 15] = mult  # multiplicity
    return f, y


def main(argv=None):
    return qat.mlp_main(argv, __doc__, "jet_tagger", "jet-tagger", "train_jet_tagger.py",
                        make_jets, 20261129, 200000, 12,
                        (SIZES, A_FRAC, A_MAX, 10, 16),  # input fixed<16,6,RND,SAT>
                        PRUNE, {"features": list(FEATURES), "classes": list(CLASSES)})


if __name__ == "__main__":
    sys.exit(main())
