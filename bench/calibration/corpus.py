#!/usr/bin/env python3
"""ECP5 timing calibration corpus (docs/timing-model.md, issue #17). Python 3 stdlib only.

    corpus.py models OUTDIR              write the synthetic models of the corpus into OUTDIR
    corpus.py list                       one line per run: design model-path clock-ns extra-args
    corpus.py row BUILD DESIGN ARGS SECS  one CSV row (no header) from a routed build directory
    corpus.py header                     the CSV header

The designs: bundled models (models/*.json) and seeded synthetic ones (random networks, deep
adder trees, wide casts, lookup tables, comparisons, LUT and DSP products). Each is compiled
with `--target lattice-ecp5` at two or three clocks; bench/calibrate_ecp5.sh does the runs.
"""
import csv, json, random, sys

# design, model (models/NAME.json or gen:NAME), extra compile args, clocks (ns). The clocks are
# for the calibrated model, no faster than its slowest single element with the clock
# uncertainty (ecp5-v5: a DSP product, 8.7 ns with the register overhead, needs a 9.94 ns
# period). The first pass (rows tagged v0-uncalibrated, the hand-set model) used 6, 10 and
# 16 ns (mul_dsp: 8, 12, 20); ecp5-v1 and -v2 used 12 ns where ecp5-v3 and -v4 use 14 ns;
# ecp5-v5 adds 10 ns for every design below ~5k logic cells.
DESIGNS = [
    ("odd_types", "models/odd_types.json", "", [10.0, 14.0, 16.0, 25.0]),
    ("rand_s", "gen:rand_s", "", [10.0, 14.0, 16.0, 25.0]),
    ("argmax32", "gen:argmax32", "", [10.0, 14.0, 16.0, 25.0]),
    ("addtree64", "gen:addtree64", "", [10.0, 14.0, 16.0, 25.0]),
    ("wide_cast", "gen:wide_cast", "", [10.0, 14.0, 16.0, 25.0]),
    ("mul_dsp", "gen:mul_dsp", "--dsp always", [10.0, 14.0, 20.0, 30.0]),
    ("mul_lut", "gen:mul_lut", "", [10.0, 14.0, 16.0, 25.0]),
    ("sigmoid_tab", "gen:sigmoid_tab", "", [10.0, 14.0, 16.0, 25.0]),
    ("wrap_accum", "models/wrap_accum.json", "", [10.0, 14.0, 16.0, 25.0]),
    ("maxpool", "gen:maxpool", "", [10.0, 14.0, 16.0, 25.0]),
    ("rand_m", "gen:rand_m", "", [10.0, 14.0, 16.0, 25.0]),
    ("rand_l", "gen:rand_l", "", [16.0, 25.0]),
    ("egamma_id", "models/egamma_id.json", "", [16.0, 25.0]),
    ("econt", "models/econt.json", "", [25.0]),
]


def model(name, inputs, layers, outputs, desc):
    return {"format": "rtl4ml-model", "version": 1, "name": name,
            "description": "SYNTHETIC (seeded) calibration design, bench/calibration/corpus.py: " + desc,
            "inputs": inputs, "layers": layers, "outputs": outputs}


def dense(rng, name, n_in, n_out, bits, prune, result, inp=None, bias=True, accum=None):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    w = [0 if rng.random() < prune else rng.randint(lo, hi) for _ in range(n_in * n_out)]
    layer = {"name": name, "kind": "dense",
             "weight": {"type": f"fixed<{bits},1>", "shape": [n_in, n_out], "data": w},
             "result": result}
    if bias:
        layer["bias"] = {"type": "fixed<8,3>", "data": [rng.randint(-128, 127) for _ in range(n_out)]}
    if inp:
        layer["input"] = inp
    if accum:
        layer["accum"] = accum
    return layer


def mlp(rng, name, sizes, bits, prune):
    layers = []
    for k in range(len(sizes) - 1):
        last = k == len(sizes) - 2
        layers.append(dense(rng, f"fc{k+1}", sizes[k], sizes[k + 1], bits, prune,
                            "fixed<16,8>" if last else "fixed<14,7>"))
        if not last:
            layers.append({"name": f"relu{k+1}", "kind": "relu", "result": "ufixed<8,4,RND,SAT>"})
    return model(name, [{"name": "x", "shape": [sizes[0]], "type": "fixed<10,4,RND,SAT>"}],
                 layers, [f"fc{len(sizes)-1}"], f"random MLP {sizes}, {bits}-bit weights, {prune:.0%} pruned")


def generate(name):
    rng = random.Random(name)
    if name == "rand_s":
        return mlp(rng, name, [8, 8, 4], 5, 0.5)
    if name == "rand_m":
        return mlp(rng, name, [16, 24, 8], 6, 0.5)
    if name == "rand_l":
        return mlp(rng, name, [24, 40, 12], 6, 0.5)
    if name == "argmax32":
        return model(name, [{"name": "x", "shape": [32], "type": "fixed<16,6>"}],
                     [{"name": "am", "kind": "argmax"}], ["am"],
                     "argmax over 32 16-bit values: a tournament of comparisons and multiplexers")
    if name == "maxpool":
        return model(name, [{"name": "x", "shape": [32, 8], "type": "fixed<12,4>"}],
                     [{"name": "p1", "kind": "max_pool1d", "pool_size": 4, "result": "fixed<12,4>"},
                      {"name": "p2", "kind": "global_max_pool", "result": "fixed<12,4>"}], ["p2"],
                     "max pooling 32x8 -> 8x8 -> 8 (comparison/select trees)")
    if name == "addtree64":
        w = [rng.choice([1, -1]) for _ in range(64 * 2)]
        return model(name, [{"name": "x", "shape": [64], "type": "fixed<16,8>"}],
                     [{"name": "sum", "kind": "dense",
                       "weight": {"type": "int<2>", "shape": [64, 2], "data": w},
                       "result": "fixed<24,16>"}], ["sum"],
                     "two sums of 64 16-bit inputs with +-1 weights: deep adder trees")
    if name == "wide_cast":
        return model(name, [{"name": "x", "shape": [8], "type": "fixed<24,8,RND,SAT>"}],
                     [dense(rng, "fc1", 8, 8, 8, 0.3, "fixed<10,4,RND,SAT>"),
                      {"name": "relu1", "kind": "relu", "result": "ufixed<6,3,RND_CONV,SAT>"},
                      dense(rng, "fc2", 8, 4, 8, 0.3, "fixed<12,6,RND,SAT>")], ["fc2"],
                     "24-bit inputs, wide sums rounded and saturated to narrow types")
    if name in ("mul_dsp", "mul_lut"):
        wdt = 16 if name == "mul_dsp" else 8
        return model(name, [{"name": "a", "shape": [8], "type": f"fixed<{wdt},4>"},
                            {"name": "b", "shape": [8], "type": f"fixed<{wdt},4>"}],
                     [{"name": "prod", "kind": "multiply", "inputs": ["a", "b"],
                       "result": f"fixed<{2*wdt},8>"},
                      {"name": "sum", "kind": "dense", "input": "prod",
                       "weight": {"type": "uint<1>", "shape": [8, 1], "data": [1] * 8},
                       "result": f"fixed<{2*wdt+3},11>"}], ["sum"],
                     f"eight {wdt}x{wdt} products of two variables summed")
    if name == "sigmoid_tab":
        return model(name, [{"name": "x", "shape": [8], "type": "fixed<12,5,RND,SAT>"}],
                     [dense(rng, "fc1", 8, 8, 6, 0.5, "fixed<12,5,RND,SAT>"),
                      {"name": "sig", "kind": "sigmoid",
                       "table": {"type": "ufixed<10,0,RND,SAT>", "size": 1024},
                       "result": "ufixed<10,0>"}], ["sig"],
                     "dense 8->8 then 1024-entry sigmoid tables (ROMs)")
    raise SystemExit(f"unknown synthetic design {name}")


HEADER = ["design", "model", "extra_args", "clock_ns", "cycles", "predicted_ns", "predicted_mhz",
          "fmax_mhz", "routed_ns", "met", "margin_pct", "lut", "ff", "carry", "dsp", "device",
          "path_ns", "path_clk_q_setup_ns", "path_logic_ns", "path_route_ns", "path_hops",
          "path_luts", "path_pfumx", "path_carry_entries", "path_carry_cells", "path_sum_outs",
          "path_dsp", "path_dsp_ns", "delay_model", "pnr_seconds"]


def path_features(pnr):
    """Split nextpnr's critical path (its `--report` JSON) into clk-to-q/setup, logic and routing,
    and count the cells along it."""
    paths = pnr.get("critical_paths") or []
    f = dict(path_ns=0.0, path_clk_q_setup_ns=0.0, path_logic_ns=0.0, path_route_ns=0.0,
             path_hops=0, path_luts=0, path_pfumx=0, path_carry_entries=0, path_carry_cells=0,
             path_sum_outs=0, path_dsp=0, path_dsp_ns=0.0)
    if not paths:
        return f
    p = max(paths, key=lambda p: sum(s["delay"] for s in p["path"]))
    for s in p["path"]:
        d, t = s["delay"], s["type"]
        f["path_ns"] += d
        if t in ("clk-to-q", "setup"):
            f["path_clk_q_setup_ns"] += d
        elif t == "routing":
            f["path_route_ns"] += d
            if d > 0:
                f["path_hops"] += 1
        else:
            f["path_logic_ns"] += d
            cell, a, b = s["from"]["cell"], s["from"]["port"], s["to"]["port"]
            if "MULT18" in cell or "ALU54" in cell or a.startswith(("A", "B")) and b.startswith("P") and "CCU2" not in cell:
                f["path_dsp"] += 1
                f["path_dsp_ns"] += d
            elif b == "OFX":
                f["path_pfumx"] += 1
            elif a == "FCI" and b == "FCO":
                if "COMB0" in cell:
                    f["path_carry_cells"] += 1
            elif b == "FCO":
                f["path_carry_entries"] += 1
            elif a == "FCI" and b == "F":
                f["path_sum_outs"] += 1
            elif b == "F":
                f["path_luts"] += 1
    for k in ("path_ns", "path_clk_q_setup_ns", "path_logic_ns", "path_route_ns", "path_dsp_ns"):
        f[k] = round(f[k], 3)
    return f


def row(build, design, model_path, extra, secs):
    r = json.load(open(f"{build}/report.json"))
    m = next(x for x in r.get("measured", []) if x.get("target") == "lattice-ecp5")
    p = m["pnr"]
    pnr = json.load(open(f"{build}/synth/lattice-ecp5/pnr.json"))
    tm = r.get("timing_model") or {}
    out = dict(design=design, model=model_path, extra_args=extra, clock_ns=r["clock_ns"],
               cycles=r["latency_cycles"], predicted_ns=r["critical_path_ns"],
               predicted_mhz=round(1000.0 / r["critical_path_ns"], 2), fmax_mhz=p["fmax_mhz"],
               routed_ns=round(1000.0 / p["fmax_mhz"], 3), met=int(p["met"]),
               margin_pct=round(100.0 * (p["fmax_mhz"] * r["critical_path_ns"] / 1000.0 - 1.0), 1),
               lut=m["lut"], ff=m["ff"], carry=m["carry"], dsp=m["dsp"], device=p["device"],
               delay_model=tm.get("version", "v0-uncalibrated"), pnr_seconds=secs)
    out.update(path_features(pnr))
    w = csv.DictWriter(sys.stdout, HEADER, lineterminator="\n")
    w.writerow(out)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "models":
        for d, src, _, _ in DESIGNS:
            if src.startswith("gen:"):
                with open(f"{sys.argv[2]}/{d}.json", "w") as f:
                    json.dump(generate(src[4:]), f)
    elif cmd == "list":
        for d, src, extra, clocks in DESIGNS:
            for c in clocks:
                print(d, src, c, extra or "-")
    elif cmd == "header":
        print(",".join(HEADER))
    elif cmd == "row":
        row(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
