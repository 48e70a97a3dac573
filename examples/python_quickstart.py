#!/usr/bin/env python3
"""rtl4ml from Python, start to finish: train a tiny HGQ2 model, compile it to Verilog,
predict bit-exactly with Keras, print the latency/resource report, verify in Verilator.

    pip install "./python[keras]"          # from the rtl4ml repository (needs Rust)
    python3 examples/python_quickstart.py   # ~30 s; writes build/quickstart/

Everything runs in this process: no repository script, no files in between. The same steps
are in docs/python.md with their output.
"""

import os
import shutil
import sys

os.environ.setdefault('KERAS_BACKEND', 'jax')

import keras  # noqa: E402
import numpy as np  # noqa: E402
from hgq.config import QuantizerConfig  # noqa: E402
from hgq.layers import QDense  # noqa: E402

import rtl4ml  # noqa: E402

out_dir = sys.argv[1] if len(sys.argv) > 1 else 'build/quickstart'

# 1. Train a tiny HGQ2 classifier: 8 features -> 16 -> 4 classes, on seeded synthetic data.
keras.utils.set_random_seed(1)
rng = np.random.default_rng(1)
x = rng.normal(size=(4096, 8)).astype('float32')
y = np.argmax(x[:, :4] + 0.5 * x[:, 4:], axis=1)
iq = QuantizerConfig('kif', 'datalane', i0=3, f0=3, round_mode='RND', overflow_mode='SAT')
model = keras.Sequential([
    keras.Input((8,), name='features'),
    QDense(16, activation='relu', iq_conf=iq, name='hidden'),
    QDense(4, name='logits'),
], name='tiny_classifier')
model.compile(optimizer=keras.optimizers.Adam(1e-2),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
model.fit(x, y, epochs=5, batch_size=128, verbose=0)
print(f'Keras accuracy: {model.evaluate(x, y, verbose=0)[1]:.3f}')

# 2. Into rtl4ml, in-process: per-weight and per-element bit widths kept.
m = rtl4ml.from_keras(model)
print(m)

# 3. Compile for a 4 ns clock (250 MHz) on an UltraScale+ part.
d = rtl4ml.compile(m, clock_ns=4.0, target='xilinx-ultrascale-plus')
print(d)

# 4. Predict: the simulator of exactly the hardware, bit for bit with Keras.
x_test = rng.normal(size=(10000, 8)).astype('float32')
y_hw = d.predict(x_test)
y_keras = model.predict(x_test, verbose=0, batch_size=len(x_test))
print(f'bit-exact with Keras on {len(x_test)} samples: {np.array_equal(y_hw, y_keras.astype("float64"))}')

# 5. The report: latency and resources (the content of report.json).
r = d.report
print(f'latency: {r["latency_cycles"]} cycles = {r["latency_ns"]} ns at {r["clock_ns"]} ns; '
      f'estimate: {r["resources"]["lut"]} LUT, {r["resources"]["ff"]} FF, {r["resources"]["dsp"]} DSP')
print(d.report_text)

# 6. Write the build directory (Verilog, report, vendor scripts) and verify it in Verilator.
d.write(out_dir)
d.html(os.path.join(out_dir, 'report.html'))
print(f'wrote {out_dir}/ ({d.top}.v, report.json, report.html, ...)')
if shutil.which('verilator'):
    v = d.verify(vectors=2000)
    print(f'Verilator: PASS, {v["vectors"]} vectors bit-exact')
else:
    print('Verilator not installed: skipping verify (apt-get install verilator)')
