#!/usr/bin/env bash
# Fuzzes every input carry reads from outside, two targets at a time (one a core), and prints
# each target's executions and crashes.
#
#   bash fuzz/run.sh [SECONDS]        (default 60 each; the campaign's figures used 120-600)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Crashes land in
# fuzz/artifacts/<target>/; turn each into a seed in fuzz/corpus/<target>/ (replayed by the
# test suite) once fixed.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
cargo +nightly fuzz build -O >/dev/null
LOGS=$(mktemp -d)
run() {
  local target=$1 seconds=$2
  # A scratch corpus grows with what the fuzzer finds; the checked-in seeds stay small.
  mkdir -p "$LOGS/$target"
  cargo +nightly fuzz run -O "$target" "$LOGS/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 >"$LOGS/$target.log" 2>&1 || true
  local executed crashes
  executed=$(awk '/stat::number_of_executed_units/ {print $2}' "$LOGS/$target.log")
  crashes=$(ls "artifacts/$target" 2>/dev/null | wc -l)
  printf '%-12s %12s executions in %ss, %s crash files in artifacts/%s\n' "$target" "${executed:-?}" "$seconds" "$crashes" "$target"
}
for pair in "webhook series_file" "patch_file manifest"; do
  for target in $pair; do run "$target" "$SECONDS_EACH" & done
  wait
done
