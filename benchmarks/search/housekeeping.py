#!/usr/bin/env python3
"""Index housekeeping at scale: the write pause of a snapshot, memory after a bulk build against a restart, and
what a feed of corrections leaves behind. Prints markdown tables.

    python3 benchmarks/search/housekeeping.py [--scales 1,10] [--build NAME=PATH ...] [--modes pause,memory,churn]

Every build is a `newswire-search-bench` executable (default: this checkout's release build, built first);
`--build` adds others (e.g. an older commit's) to run side by side in the same run, alternating per scale.
- pause: a feed thread writes one new article per call (prepare, install) while a snapshot is written; the
  slowest write that overlapped the snapshot against the slowest in an equally long window right after it.
- memory: resident anonymous memory (heap and mapped arrays; shared-library code pages left out) right after a
  bulk build, and in a fresh process that loads the snapshot of that index (a restart).
- churn: two in five articles written again with an edited body and one in ten removed (batches of 64); the
  index payload at its largest during the feed and after it, against a fresh index over the same final articles,
  and whether every query's total agrees.
"""
import argparse
import json
import os
import platform
import subprocess
import tempfile

from run import ROOT, cpu_model  # benchmarks/search/run.py: the same machine line as the search benchmark

HERE = os.path.dirname(os.path.abspath(__file__))


def run(exe, *args):
    out = subprocess.run([exe, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "zh-news.jsonl"))
    ap.add_argument("--queries", default=os.path.join(HERE, "queries.txt"))
    ap.add_argument("--scales", default="1,10")
    ap.add_argument("--modes", default="pause,memory,churn")
    ap.add_argument("--build", action="append", default=[], help="NAME=PATH of another newswire-search-bench")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    corpus = os.path.abspath(args.corpus)
    modes = set(args.modes.split(","))
    build_cmd = ["swift", "build", "-c", "release", "--scratch-path", ".build-release", "--product",
                 "newswire-search-bench"]
    if not args.no_build:
        subprocess.run(build_cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    builds = [tuple(b.split("=", 1)) for b in args.build]
    builds.append(("this checkout", os.path.join(ROOT, ".build-release", "release", "newswire-search-bench")))

    print("# Newswire index housekeeping")
    print()
    print(f"- machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} {platform.release()}; "
          f"load average at start {os.getloadavg()[0]:.2f}")
    extra = "".join(f" --build {name}=PATH" for name, _ in builds[:-1])
    print(f"- command: python3 benchmarks/search/housekeeping.py --scales {args.scales} --modes {args.modes}{extra}")
    print()
    raw = sum(len(d["title"].encode()) + len(d["body"].encode())
              for d in map(json.loads, open(corpus, encoding="utf-8")))
    rows = {m: [] for m in ("pause", "memory", "churn")}
    with tempfile.TemporaryDirectory() as scratch:
        for scale in [int(s) for s in args.scales.split(",")]:
            for name, exe in builds:
                common = ["--corpus", corpus, "--queries", args.queries, "--scale", str(scale)]
                if "pause" in modes:
                    p = run(exe, *common, "--snapshot-pause", scratch)
                    rows["pause"].append(
                        f"| {p['articles']:,} | {name} | {p['snapshotSeconds']:.2f} s | "
                        f"{p['slowestUpsertDuringSnapshotMs']:.1f} ms ({p['upsertsDuringSnapshot']} writes) | "
                        f"{p['slowestUpsertQuietMs']:.1f} ms ({p['upsertsQuiet']} writes, median "
                        f"{p['medianUpsertQuietMs']:.2f} ms) |")
                if "memory" in modes:
                    m = run(exe, *common, "--no-snippets", "--snapshot", scratch, "--keep-snapshot")
                    path = os.path.join(scratch, f"search-{scale}.snapshot")
                    fresh = run(exe, "--load-only", path)
                    os.remove(path)
                    r = raw * scale
                    payload = m["postingsBytes"] + m["dictionaryBytes"] + m["storedTextBytes"] + m["attributeBytes"]
                    rows["memory"].append(
                        f"| {m['articles']:,} | {name} | {payload / 1e6:.1f} MB ({payload / r:.2f}x) | "
                        f"{m['indexAnonymousBytes'] / 1e6:.1f} MB ({m['indexAnonymousBytes'] / r:.2f}x) | "
                        f"{fresh['loadedAnonymousBytes'] / 1e6:.1f} MB ({fresh['loadedAnonymousBytes'] / r:.2f}x) | "
                        f"{m['indexRSSBytes'] / r:.2f}x / {fresh['loadedRSSBytes'] / r:.2f}x | "
                        f"{m['indexAnonymousBytes'] / fresh['loadedAnonymousBytes']:.2f} |")
                if "churn" in modes:
                    c = run(exe, *common, "--churn")
                    rows["churn"].append(
                        f"| {c['articles']:,} | {name} | {c['updates']:,} / {c['removals']:,} | "
                        f"{c['churnSeconds']:.1f} s | {c['payloadPeakBytes'] / 1e6:.1f} MB "
                        f"({c['payloadPeakBytes'] / c['payloadFreshBytes']:.2f}x) | {c['payloadAfterBytes'] / 1e6:.1f} MB | "
                        f"{c['payloadFreshBytes'] / 1e6:.1f} MB | "
                        f"{c['payloadAfterBytes'] / c['payloadFreshBytes']:.2f}x | {c['segmentsAfter']} | "
                        f"{c['totalsAgree']}/{c['queries']} |")
    raw_note = f"raw title+body text {raw / 1e6:.1f} MB per 1x"
    if rows["pause"]:
        print("## Snapshot write pause (a feed writing one article per call meanwhile)")
        print()
        print("| articles | build | snapshot write | slowest write overlapping it | slowest write in as long a window "
              "right after |")
        print("|---:|---|---:|---:|---:|")
        print("\n".join(rows["pause"]))
        print()
    if rows["memory"]:
        print(f"## Index memory: right after a bulk build vs a restart ({raw_note}; ratios to the raw text)")
        print()
        print("| articles | build | payload | anonymous RSS after build | anonymous RSS after a restart "
              "(fresh process) | VmRSS build / restart | build / restart |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        print("\n".join(rows["memory"]))
        print()
    if rows["churn"]:
        print("## After a feed of corrections (dead copies still held)")
        print()
        print("| articles | build | updates / removals | feed time | payload at its largest (vs fresh) | payload after "
              "| payload of a fresh index "
              "over the same articles | after / fresh | segments | totals equal to the fresh index's |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        print("\n".join(rows["churn"]))
        print()


if __name__ == "__main__":
    main()
