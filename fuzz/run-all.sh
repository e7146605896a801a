#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each and prints a summary table (executions, coverage, corpus, crashes).
#
#   fuzz/run-all.sh [SECONDS]        (default 180 seconds per target)
#
# Targets: fuzz/run.sh (frame and message decoders) and fuzz/run-pages.sh (page parser). Logs go to
# fuzz/artifacts/<target>.log; crashers to fuzz/artifacts/crash-*.
set -uo pipefail
SECONDS_PER_TARGET="${1:-180}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
mkdir -p fuzz/artifacts
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
printf "%-10s %8s %12s %10s %8s %8s %8s %s\n" target seconds execs execs/s cov ft corpus crashes
for target in decoders pages; do
    script=fuzz/run.sh
    [ "$target" = pages ] && script=fuzz/run-pages.sh
    log=fuzz/artifacts/$target.log
    before=$(ls fuzz/artifacts | grep -c '^crash-' || true)
    "$script" "$SECONDS_PER_TARGET" >"$log" 2>&1
    status=$?
    after=$(ls fuzz/artifacts | grep -c '^crash-' || true)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
    corp=$(echo "$last" | grep -o 'corp: [0-9]*' | grep -o '[0-9]*')
    printf "%-10s %8s %12s %10s %8s %8s %8s %s\n" "$target" "$SECONDS_PER_TARGET" "${execs:-?}" "${speed:-?}" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}" "$((after - before)) (exit $status)"
done
