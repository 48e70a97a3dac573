#!/usr/bin/env python3
"""Carries routed corpus runs over to a new delay-model tag where the new model builds the same
hardware. Python 3 stdlib only.

    python3 bench/calibration/carry.py OLD_BIN NEW_BIN [CSV]

For every corpus entry (corpus.py list) that has a row at OLD_BIN's tag and none at NEW_BIN's,
both binaries compile the design at its clock; when every Verilog file is byte for byte the
same, the routed figures cannot differ (Yosys and nextpnr, seed 1, are deterministic on the
same input and clock), so the old row is appended under the new tag with the new model's
prediction (predicted_ns, predicted_mhz, margin_pct). Entries whose Verilog differs are listed:
route them with `RTL4ML=NEW_BIN bench/calibrate_ecp5.sh DESIGN...`.
"""
import csv, filecmp, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import corpus  # noqa: E402


def build(binary, model, out, clock, extra):
    subprocess.run([binary, "compile", model, "-o", out, "--target", "lattice-ecp5",
                    "--clock-ns", clock, *extra, "-q"], check=True, capture_output=True)
    return json.load(open(os.path.join(out, "report.json")))


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    old_bin, new_bin = sys.argv[1], sys.argv[2]
    path = sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "ecp5.csv")
    rows = list(csv.DictReader(open(path)))
    carried, changed = [], []
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(f"{work}/models")
        for d, src, extra, clocks in corpus.DESIGNS:
            if src.startswith("gen:"):
                with open(f"{work}/models/{d}.json", "w") as f:
                    json.dump(corpus.generate(src[4:]), f)
        for d, src, extra, clocks in corpus.DESIGNS:
            model = f"{work}/models/{d}.json" if src.startswith("gen:") else src
            args = extra.split() if extra else []
            for c in clocks:
                tags = {}
                for name, binary in (("old", old_bin), ("new", new_bin)):
                    out = f"{work}/{d}_{c}_{name}"
                    tags[name] = (out, build(binary, model, out, str(c), args))
                (old_dir, old_rep), (new_dir, new_rep) = tags["old"], tags["new"]
                old_tag, new_tag = (r["timing_model"]["version"] for r in (old_rep, new_rep))
                same = lambda r: r["design"] == d and float(r["clock_ns"]) == float(c)  # noqa: E731
                prev = [r for r in rows if same(r) and r["delay_model"] == old_tag]
                if not prev or any(same(r) and r["delay_model"] == new_tag for r in rows):
                    continue
                files = sorted(f for f in os.listdir(old_dir) if f.endswith(".v"))
                if files != sorted(f for f in os.listdir(new_dir) if f.endswith(".v")) or not all(
                        filecmp.cmp(f"{old_dir}/{f}", f"{new_dir}/{f}", shallow=False) for f in files):
                    changed.append(f"{d} @ {c} ns")
                    continue
                r = dict(prev[-1])
                p = new_rep["critical_path_ns"]
                r.update(delay_model=new_tag, predicted_ns=p, predicted_mhz=round(1000.0 / p, 2),
                         margin_pct=round(100.0 * (float(r["fmax_mhz"]) * p / 1000.0 - 1.0), 1))
                carried.append(r)
    with open(path, "a") as f:
        w = csv.DictWriter(f, corpus.HEADER, lineterminator="\n")
        for r in carried:
            w.writerow(r)
    print(f"carried {len(carried)} runs over (same Verilog); to route: {', '.join(changed) or 'none'}")


if __name__ == "__main__":
    main()
