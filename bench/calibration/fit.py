#!/usr/bin/env python3
"""Least-squares fit of the ECP5 delay model to the routed corpus. Python 3 stdlib only.

    cargo run --release --example ecp5_fit -- --tag TAG > /tmp/paths.csv
    python3 bench/calibration/fit.py /tmp/paths.csv [FEATURE ...]

`paths.csv` (from examples/ecp5_fit.rs) has, per routed run, the elements of the critical path
the current model finds in the routed schedule. The routed critical delay is fitted as
  routed_ns ≈ reg + base·adders + c·carry_bits + mux·selects + tab·tables + dsp·dsps [+ …]
with non-negative coefficients (a feature whose coefficient would be negative is dropped),
and the residuals are printed per run. Default features: adders carry_bits selects tables dsps.
"""
import csv, sys


def solve(a, b):
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        if abs(m[c][c]) < 1e-12:
            raise ZeroDivisionError(c)
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] for i in range(n)]


def nnls(rows, feats, target):
    feats = list(feats)
    while True:
        x = [[1.0] + [float(r[f]) for f in feats] for r in rows]
        y = [float(r[target]) for r in rows]
        k = len(feats) + 1
        ata = [[sum(x[i][p] * x[i][q] for i in range(len(x))) for q in range(k)] for p in range(k)]
        aty = [sum(x[i][p] * y[i] for i in range(len(x))) for p in range(k)]
        try:
            w = solve(ata, aty)
        except ZeroDivisionError as e:
            feats.pop(e.args[0] - 1)
            continue
        neg = [j for j in range(1, k) if w[j] < 0]
        if not neg:
            return feats, w
        feats.pop(min(neg, key=lambda j: w[j]) - 1)


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    args = sys.argv[2:] or ["adders", "carry_bits", "selects", "tables", "dsps"]
    # FEATURE=VALUE fixes a coefficient (e.g. carry_bits=0.036, the CCU2C's 0.071 ns per 2 bits).
    fixed = {a.split("=")[0]: float(a.split("=")[1]) for a in args if "=" in a}
    feats = [f for f in args if "=" not in f and any(float(r[f]) for r in rows)]
    for r in rows:
        r["free_ns"] = float(r["routed_ns"]) - sum(c * float(r[f]) for f, c in fixed.items())
    feats, w = nnls(rows, feats, "free_ns")
    feats += list(fixed)
    w += list(fixed.values())
    print("fit: routed_ns = %.3f" % w[0] + "".join(" + %.4f*%s" % (c, f) for f, c in zip(feats, w[1:])))
    print("%-12s %6s %6s %8s %8s %7s" % ("design", "clock", "cycles", "routed", "fitted", "resid%"))
    errs = []
    for r in rows:
        fit = w[0] + sum(c * float(r[f]) for f, c in zip(feats, w[1:]))
        e = 100 * (fit - float(r["routed_ns"])) / float(r["routed_ns"])
        errs.append(e)
        print("%-12s %6s %6s %8.2f %8.2f %+7.1f" % (r["design"], r["clock_ns"], r["cycles"],
                                                   float(r["routed_ns"]), fit, e))
    errs.sort()
    print("residuals: min %+.1f%%, median %+.1f%%, max %+.1f%%, rms %.1f%%" % (
        errs[0], errs[len(errs) // 2], errs[-1], (sum(e * e for e in errs) / len(errs)) ** 0.5))


if __name__ == "__main__":
    main()
