#!/usr/bin/env python3
"""Throughput of `Design.predict` from Python on the jet tagger, one core.

    target/python-venv/bin/python bench/python_predict.py [--samples 1000000] [--model models/jet_tagger.json]

(python/run_tests.sh makes that venv; any environment with the package installed works.)
Prints samples/s for float64 and float32 values and for raw int64 mantissas: best of
--repeat runs of one predict call on a batch of --samples rows (calibration rows tiled),
pinned to one core; also per second of the thread's CPU time, the figure that holds on a
loaded machine. The netlist is compiled once by rtl4ml.compile; predict converts the
input once and simulates with the GIL released.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

import rtl4ml

ROOT = Path(__file__).resolve().parents[1]


def best(f, repeat):
    """Best wall-clock and best CPU time (this thread) of `repeat` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.thread_time()
        f()
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - t)
    return min(wall), min(cpu)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default=str(ROOT / 'models' / 'jet_tagger.json'))
    ap.add_argument('--calib', help='rows to tile (default: models/calib/<model>.npy)')
    ap.add_argument('--samples', type=int, default=1_000_000)
    ap.add_argument('--repeat', type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    t = time.perf_counter()
    d = rtl4ml.compile(rtl4ml.load(args.model))
    compile_s = time.perf_counter() - t
    calib = args.calib or ROOT / 'models' / 'calib' / f'{Path(args.model).stem.removesuffix("_16b")}.npy'
    rows = np.load(calib)
    x = np.tile(rows, (args.samples // len(rows) + 1,) + (1,) * (rows.ndim - 1))[: args.samples]
    x64, x32 = x.astype(np.float64), x.astype(np.float32)
    m = d.quantize_inputs(x64)
    d.predict(x64[:10000])  # warm up
    print(f'{d.top}: {d.n_inputs} → {d.n_outputs}, {d.lane_bits}-bit lanes, compiled in {compile_s:.2f} s; '
          f'rtl4ml {rtl4ml.__version__}, numpy {np.__version__}')
    for what, f in [('float64 values', lambda: d.predict(x64)),
                    ('float32 values', lambda: d.predict(x32)),
                    ('int64 mantissas (raw=True)', lambda: d.predict(m, raw=True))]:
        wall, cpu = best(f, args.repeat)
        print(f'predict, {what:<27}: {args.samples / wall:>11,.0f} samples/s '
              f'({args.samples} samples in {wall:.3f} s; {args.samples / cpu:,.0f} per CPU second)')


if __name__ == '__main__':
    main()
