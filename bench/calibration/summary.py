#!/usr/bin/env python3
"""Summary of the ECP5 calibration CSV for one delay-model tag: a markdown table of the runs
(prediction, routed, met, Fmax error, the critical path's split) and the fit quality.
Python 3 stdlib only.

    python3 bench/calibration/summary.py [bench/calibration/ecp5.csv] [TAG]

TAG defaults to the newest tag in the file. "met": the routed Fmax reaches the clock the
compiler was given (and promised); "Fmax error": routed Fmax / predicted Fmax − 1, where the
predicted Fmax is 1000 / critical_path_ns of report.json.
"""
import csv, statistics, sys

path = sys.argv[1] if len(sys.argv) > 1 else "bench/calibration/ecp5.csv"
rows = list(csv.DictReader(open(path)))
tag = sys.argv[2] if len(sys.argv) > 2 else rows[-1]["delay_model"]
rows = [r for r in rows if r["delay_model"] == tag]
print(f"delay model `{tag}`: {len(rows)} routed runs, "
      f"{len(set(r['design'] for r in rows))} designs\n")
print("| design | clock ns | cycles | predicted ns | routed ns | met | Fmax error | LUT4 | CCU2C | path: logic / routing ns, nets |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
errs = []
for r in rows:
    e = 100.0 * (float(r["predicted_ns"]) / float(r["routed_ns"]) - 1.0)
    errs.append(e)
    print(f"| {r['design']}{' ' + r['extra_args'] if r['extra_args'] else ''} | {float(r['clock_ns']):g} | "
          f"{r['cycles']} | {float(r['predicted_ns']):.2f} | {float(r['routed_ns']):.2f} | "
          f"{'yes' if r['met'] == '1' else '**no**'} | {e:+.1f}% | {r['lut']} | {r['carry']} | "
          f"{float(r['path_logic_ns']) + float(r['path_clk_q_setup_ns']):.1f} / {float(r['path_route_ns']):.1f}, {r['path_hops']} |")
met = sum(r["met"] == "1" for r in rows)
within = sum(abs(e) <= 15.0 for e in errs)
print(f"\nmet the promised clock: {met}/{len(rows)} = {100.0 * met / len(rows):.0f}%; "
      f"Fmax within 15% of the prediction: {within}/{len(rows)}; Fmax error median "
      f"{statistics.median(errs):+.1f}%, range {min(errs):+.1f}% … {max(errs):+.1f}%")
