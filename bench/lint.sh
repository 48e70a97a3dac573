#!/usr/bin/env bash
# Structural checks the compiler cannot make on its own (part of the README's test command):
# no match over `LayerKind` in src/ has a wildcard arm (docs/adding-a-layer.md), and formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check || { echo "lint: run cargo fmt --all" >&2; exit 1; }
out=$(cargo clippy --release --lib --message-format short -- -W clippy::wildcard_enum_match_arm 2>&1) || {
  echo "$out" >&2; exit 1; }
wild=$(printf '%s\n' "$out" | grep 'wildcard match will also match' | grep -c 'LayerKind::' || true)
if [ "$wild" -ne 0 ]; then
  printf '%s\n' "$out" | grep 'wildcard match will also match' | grep 'LayerKind::' >&2
  echo "lint: $wild wildcard arm(s) over LayerKind in src/ (docs/adding-a-layer.md)" >&2
  exit 1
fi
echo "lint: formatting clean, no wildcard arm over LayerKind"
