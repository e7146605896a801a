#!/usr/bin/env bash
# Store and engine benchmarks: import rate and restart time, on the corpus and the corpus ×10 (ids suffixed,
# bodies unchanged), release build, one run. Prints a markdown table with the machine and the commands.
#
#   benchmarks/store/run.sh [corpus.jsonl] [work-dir]
#
# Peers measured in the same run: import into the store alone (no index, no near-duplicate detection) for the
# engine's import rate, and a rebuild of the index from the store for the snapshot restart.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
corpus="${1:-$here/../../../shared/corpus/zh-news.jsonl}"
work="${2:-$(mktemp -d /tmp/newswire-store-bench.XXXXXX)}"
if [[ ! -f "$corpus" ]]; then
    echo "corpus not found: $corpus (pass its path as the first argument)" >&2
    exit 1
fi
mkdir -p "$work"
results="$work/results.txt"
: >"$results"

(cd "$here" && swift build -c release --scratch-path .build-release 2>&1 | tail -1) >&2
bench="$here/.build-release/release/store-bench"

step() {
    echo "+ store-bench $*" >&2
    "$bench" "$@" | tee -a "$results" >&2
}

rm -rf "$work/store1" "$work/engine1" "$work/store10" "$work/engine10" "$work/duplicates"
step parse "$corpus"
step codec "$corpus"
step import-store "$corpus" "$work/store1" 1
step import "$corpus" "$work/engine1" 1
step open "$work/engine1"
step rebuild "$work/engine1"
step import-store "$corpus" "$work/store10" 10
step import "$corpus" "$work/engine10" 10
for run in 1 2 3; do step open "$work/engine10"; done
step mutate "$work/engine10" 5000
step open "$work/engine10"
step rebuild "$work/engine10"
step open "$work/engine10"
step duplicates "$corpus" "$work/duplicates"

python3 - "$results" "$corpus" "$work" <<'EOF'
import os, platform, re, statistics, subprocess, sys
results, corpus, work = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for line in open(results):
    if line.startswith("RESULT "):
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
print(f"machine: {os.cpu_count()} cores (nproc {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()}), {cpu}; {platform.system()} {platform.release()}")
print(f"toolchain: {swift}; release build")
print(f"corpus: {corpus} ({os.path.getsize(corpus):,} bytes); work dir: {work}")
print()
def f(x, d=2): return f"{float(x):,.{d}f}"
imports = [r for r in rows if r["step"] in ("parse", "import-store", "import")]
print("| import step | articles | seconds | articles/s | MB/s | vs store alone |")
print("|---|---:|---:|---:|---:|---:|")
store_rate = {}
for r in imports:
    n = int(r["articles"])
    if r["step"] == "import-store": store_rate[n] = float(r["perSecond"])
for r in imports:
    n = int(r["articles"])
    ratio = f"{float(r['perSecond']) / store_rate[n]:.2f}×" if n in store_rate else ""
    extra = f" ({r['duplicates']} marked duplicate)" if "duplicates" in r else ""
    print(f"| {r['step']}{extra} | {n:,} | {f(r['seconds'])} | {f(r['perSecond'], 0)} | {f(r['mbPerSecond'], 1)} | {ratio} |")
print()
print("| restart | articles | source | replayed | seconds (snapshot load / catch-up) | RSS MB | vs rebuild |")
print("|---|---:|---|---:|---:|---:|---:|")
opens = [r for r in rows if r["step"] in ("open", "rebuild")]
rebuild = {int(r["articles"]): float(r["seconds"]) for r in opens if r["step"] == "rebuild"}
for r in opens:
    n = int(r["articles"])
    ratio = f"{rebuild[n] / float(r['seconds']):.1f}× faster" if r["step"] == "open" and n in rebuild else ""
    print(f"| {r['step']} | {n:,} | {r['source']} | {r['replayed']} | {f(r['seconds'])} ({f(r['snapshotLoadSeconds'])} / {f(r['catchUpSeconds'])}) | {f(r['rssMB'], 0)} | {ratio} |")
codec = [r for r in rows if r["step"].startswith("codec-")]
if codec:
    print()
    print("| JSON (hand-written vs Foundation, best of 3) | articles | seconds | MB/s | Foundation seconds | Foundation MB/s | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in codec:
        print(f"| {r['step'][6:]} | {int(r['articles']):,} | {f(r['seconds'], 3)} | {f(r['mbPerSecond'], 1)} | {f(r['foundationSeconds'], 3)} | {f(r['foundationMBPerSecond'], 1)} | {float(r['ratio']):.1f}× |")
dups = [r for r in rows if r["step"].startswith("duplicates")]
if dups:
    print()
    print("| near-duplicates | articles | flagged | rate |")
    print("|---|---:|---:|---:|")
    for r in dups:
        if r["step"] == "duplicates-corpus":
            n, k = int(r["articles"]), int(r["falsePositives"])
            print(f"| corpus articles flagged (false positives) | {n:,} | {k} | {100 * k / n:.3f}% |")
        else:
            n, k = int(r["copies"]), int(r["found"])
            print(f"| copies found, edit: {r['edit']} (wrong original: {r['wrongOriginal']}) | {n:,} | {k} | {100 * k / n:.1f}% |")
big = [float(r["seconds"]) for r in opens if r["step"] == "open" and int(r["articles"]) > 100000 and r["replayed"] == "0"]
if big:
    print()
    print(f"restart on {max(int(r['articles']) for r in opens):,} articles from a snapshot: median {statistics.median(big):.2f} s over {len(big)} runs (goal < 3 s)")
print()
print("commands: benchmarks/store/run.sh " + " ".join(sys.argv[2:3]) + "; each step is `store-bench <step> ...` (see Sources/store-bench/main.swift)")
EOF
