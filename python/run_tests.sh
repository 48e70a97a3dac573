#!/usr/bin/env bash
# Builds the Python package (python/, PyO3 + maturin) and runs its pytest suite:
#   1. a venv under target/ (kept between runs) with maturin, numpy 2.x and pytest;
#   2. the wheel, built by pip through maturin exactly as `pip install ./python` builds it,
#      installed with the `keras` extra (Keras 3 / HGQ2 / JAX, pinned) for the from_keras tests;
#   3. pytest python/tests (against the command line at target/release/rtl4ml, built here);
#   4. the same wheel with numpy 1.26 in a second venv: pytest python/tests/test_api.py;
#   5. the same wheel with the `hls4ml` extra (hls4ml 1.3.0, TensorFlow 2.14 / QKeras, pinned;
#      Keras 2, so a venv of its own): pytest python/tests/test_hls4ml.py against hls4ml's C-sim.
# Exits non-zero when anything fails, and when pytest passed no test at all.
# RTL4ML_PY_KERAS=0 skips the Keras extra (its tests then skip with a reason);
# RTL4ML_PY_NUMPY1=0 skips the numpy 1.26 run; RTL4ML_PY_HLS4ML=0 skips the hls4ml run.
# Prints how long each install took.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
py=${PYTHON:-python3}
venv=$root/target/python-venv
venv1=$root/target/python-venv-numpy1
venvh=$root/target/python-venv-hls4ml
wheels=$root/target/python-wheels
export CARGO_TARGET_DIR=${RTL4ML_PY_TARGET_DIR:-$root/target/python}
export RTL4ML_PY_REQUIRE_CLI=1
keras=${RTL4ML_PY_KERAS:-1}
numpy1=${RTL4ML_PY_NUMPY1:-1}
hls=${RTL4ML_PY_HLS4ML:-1}

stamp() { echo "$EPOCHREALTIME"; }
took() { awk -v a="$2" -v b="$(stamp)" -v w="$1" 'BEGIN { printf "%s: %.1f s\n", w, b - a }' >&2; }

t=$(stamp)
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "maturin>=1.7,<2" "numpy>=2" pytest
took "python: venv with maturin, numpy, pytest" "$t"

t=$(stamp)
cargo build --release --quiet --bin rtl4ml --manifest-path "$root/Cargo.toml" \
  --target-dir "$root/target"
took "python: rtl4ml command line (for the comparisons)" "$t"

t=$(stamp)
rm -rf "$wheels"
# maturin is the build backend: it must be on PATH for pip's build step.
PATH="$venv/bin:$PATH" "$venv/bin/pip" wheel -q --disable-pip-version-check --no-build-isolation \
  --no-deps -w "$wheels" "$here"
wheel=$(ls "$wheels"/rtl4ml-*.whl)
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
took "python: build and install $(basename "$wheel")" "$t"

if [ "$keras" = 1 ]; then
  t=$(stamp)
  "$venv/bin/pip" install -q --disable-pip-version-check "$wheel[keras]"
  took "python: the keras extra (hgq2, keras, jax)" "$t"
  export RTL4ML_PY_KERAS=1
fi

echo "+ pytest python/tests (numpy $("$venv/bin/python" -c 'import numpy; print(numpy.__version__)'))" >&2
# From the repository root (not python/), so the source tree's rtl4ml (no native module) is not imported.
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/tests"

if [ "$numpy1" = 1 ]; then
  t=$(stamp)
  [ -x "$venv1/bin/python" ] || "$py" -m venv "$venv1"
  "$venv1/bin/pip" install -q --disable-pip-version-check "numpy==1.26.4" pytest
  "$venv1/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  took "python: venv with numpy 1.26 and the wheel" "$t"
  echo "+ pytest python/tests/test_api.py (numpy $("$venv1/bin/python" -c 'import numpy; print(numpy.__version__)'))" >&2
  "$venv1/bin/python" -m pytest -q -p no:cacheprovider "$here/tests/test_api.py"
fi

if [ "$hls" = 1 ]; then
  t=$(stamp)
  [ -x "$venvh/bin/python" ] || "$py" -m venv "$venvh"
  "$venvh/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  "$venvh/bin/pip" install -q --disable-pip-version-check "$wheel[hls4ml]" pytest
  took "python: venv with the hls4ml extra (hls4ml, tensorflow-cpu, qkeras)" "$t"
  echo "+ pytest python/tests/test_hls4ml.py (hls4ml $("$venvh/bin/python" -c 'from importlib.metadata import version; print(version("hls4ml"))'))" >&2
  RTL4ML_PY_REQUIRE_HLS4ML=1 "$venvh/bin/python" -m pytest -q -p no:cacheprovider "$here/tests/test_hls4ml.py"
fi
