#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (Verilator, Icarus, Yosys),
# only when missing. Safe to run repeatedly.
set -euo pipefail
need=()
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v iverilog  >/dev/null 2>&1 || need+=(iverilog)
command -v yosys     >/dev/null 2>&1 || need+=(yosys)
command -v make      >/dev/null 2>&1 || need+=(make)
command -v g++       >/dev/null 2>&1 || need+=(g++)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
