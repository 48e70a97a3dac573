#!/usr/bin/env python3
"""Train the bundled Level-1 e/gamma cluster identifier (models/egamma_id.json) on synthetic
calorimeter clusters.

    python3 tools/train_egamma_id.py           # writes models/train/egamma_id_params.json and
                                               # models/calib/egamma_id{,_labels}.npy
    python3 models/generate.py                 # then rebuilds egamma_id{,_16b}.json from them

Needs numpy only. Deterministic on a given machine and numpy version (seeded PCG64); the
committed outputs are the reference, this script documents how they were made.

## The task and the data (SYNTHETIC)

A Level-1 calorimeter trigger builds electromagnetic clusters and must tell which ones are
worth an e/gamma trigger object: four classes, equally likely, electron (e), photon (gamma),
merged neutral pion (pi0 -> two photons in one cluster) and hadron (a charged pion or a jet
fragment that leaves energy in the electromagnetic calorimeter). Each cluster gets a
transverse energy from one common spectrum (5 GeV plus an exponential tail, mean 20 GeV; the
energy itself does not separate the classes) and latent physics per class:

- a matched track: electrons almost always (95%), photons when they convert (15%), pi0 by a
  random match (5%), hadrons usually (75%); its E/p is about 1 for electrons, larger for a
  conversion, anything for a random match, and below 1 for hadrons (calorimeter response);
- the hadronic fraction H/E: small and exponential for electromagnetic showers, large and
  broad for hadrons;
- the shower widths: a narrow electromagnetic core; electrons spread in phi by
  bremsstrahlung; a pi0's two photons open by about 2 m(pi0) / E_T, so its shower is wide at
  low energy and merges into a photon-like one above about 30 GeV (the classic confusion);
  hadronic showers are wide;
- isolation: photons and electrons from prompt sources are isolated, pi0 and hadrons come from
  jets and carry activity around them.

The 12 features (standardised with the training set's mean and standard deviation): log E_T,
H/E, sigma_eta_eta, sigma_phi_phi, the core energy fraction E2x5/E5x5, relative isolation,
the number of crystals above threshold, a has-track flag, E/p, the track-cluster |d_eta| and
|d_phi|, and the shower depth (energy-weighted layer). Each is a noisy function of the latents.

## The network and its training

12 -> 48 -> 24 -> 4 with ReLU, softmax cross-entropy, Adam (tools/qat.py `MLP`):
1. float training;
2. magnitude pruning to 50% zeros per layer, fine-tuned with the mask;
3. quantisation-aware fine-tuning (straight-through estimator) with the deployed types:
   weights fixed<6,0>, biases fixed<8,3>, ReLU outputs ufixed<8,4,RND,SAT>, input
   fixed<12,5,RND,SAT>; hidden dense results are wide (fixed<18,8>) and kept exact here.
The calibration set is 10000 clusters of the held-out test split (float32 features) with
their true labels in a second file.
"""

import sys

import numpy as np

import qat

CLASSES = ("e", "gamma", "pi0", "hadron")
FEATURES = (
    "log_et", "h_over_e", "sigma_ieta_ieta", "sigma_iphi_iphi", "core_fraction", "rel_iso",
    "n_crystals", "has_track", "e_over_p", "track_deta", "track_dphi", "shower_depth",
)
SIZES = (12, 48, 24, 4)
A_FRAC, A_MAX = 4, 255  # ufixed<8,4,RND,SAT>
IN_FRAC, IN_BITS = 7, 12  # fixed<12,5,RND,SAT>
PRUNE = 0.5


def make_clusters(rng, n):
    """`n` synthetic clusters: (features [n, 12] float64, labels [n] int)."""
    y = rng.integers(0, 4, size=n)
    e, gam, pi0, had = (y == 0), (y == 1), (y == 2), (y == 3)
    noise = lambda s: s * rng.normal(size=n)  # noqa: E731
    et = 5.0 + rng.exponential(15.0, size=n)
    # tracks (the Level-1 track finder misses some; a random track can match a neutral)
    p_track = np.array([0.88, 0.25, 0.15, 0.70])[y]
    track = rng.random(n) < p_track
    eop = np.where(e, 1.0 + 0.15 * np.abs(rng.normal(size=n)) + noise(0.08),
                   np.where(gam, 1.3 + noise(0.4),
                            np.where(pi0, rng.uniform(0.3, 5.0, size=n), 0.8 + noise(0.3))))
    eop = np.where(track, np.clip(eop, 0.05, 6.0), 0.0)
    # hadronic fraction: half of the hadrons shower early and look electromagnetic
    early = had & (rng.random(n) < 0.5)
    hoe = np.where(had & ~early, np.clip(0.25 + noise(0.18), 0.0, 1.5),
                   rng.exponential(np.where(early, 0.08, 0.04), size=n))
    # shower shapes: the pi0's two photons open by ~2 m / E_T (in crystal units)
    opening = np.where(pi0, 2.0 * 0.135 / et * 15.0, 0.0)
    angle = rng.uniform(0.0, np.pi, size=n)
    wide = np.where(early, 1.1, 1.4)
    core_eta = np.where(had, wide + noise(0.3), 0.9 + noise(0.12))
    core_phi = np.where(had, wide + noise(0.3),
                        np.where(e, 1.1 + 0.3 * np.abs(rng.normal(size=n)), 0.9 + noise(0.12)))
    core_phi = core_phi + np.where(gam & track, 0.3, 0.0)  # a conversion spreads in phi
    see = np.sqrt(core_eta**2 + (opening * np.cos(angle))**2) * (1.0 + noise(0.06))
    spp = np.sqrt(core_phi**2 + (opening * np.sin(angle))**2) * (1.0 + noise(0.06))
    core = np.where(had, np.where(early, 0.8, 0.62) + noise(0.12),
                    0.93 - 0.5 * opening / (1.0 + opening) + noise(0.04))
    iso = np.where(e | gam, rng.exponential(0.10, size=n), rng.exponential(0.22, size=n))
    ncry = rng.poisson(np.where(had, np.where(early, 11.0, 16.0), 7.0) + et / 10.0
                       + 6.0 * opening).astype(float)
    depth = np.where(had & ~early, 2.4 + noise(0.5), 1.6 + 0.15 * np.log(et) + noise(0.3))
    deta = np.where(track, np.abs(np.where(e, noise(0.006), noise(0.02))), 0.0)
    dphi = np.where(track, np.abs(np.where(e, noise(0.015) + 0.01, noise(0.04))), 0.0)
    f = np.empty((n, 12))
    f[:, 0] = np.log(et) + noise(0.02)
    f[:, 1] = hoe
    f[:, 2] = see
    f[:, 3] = spp
    f[:, 4] = np.clip(core, 0.0, 1.0)
    f[:, 5] = iso
    f[:, 6] = ncry
    f[:, 7] = track.astype(float)
    f[:, 8] = eop
    f[:, 9] = deta
    f[:, 10] = dphi
    f[:, 11] = depth
    return f, y


def main(argv=None):
    return qat.mlp_main(argv, __doc__, "egamma_id", "e/gamma-ID", "train_egamma_id.py",
                        make_clusters, 20261201, 120000, 12,
                        (SIZES, A_FRAC, A_MAX, IN_FRAC, IN_BITS),
                        PRUNE, {"features": list(FEATURES), "classes": list(CLASSES)})


if __name__ == "__main__":
    sys.exit(main())
