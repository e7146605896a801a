#!/usr/bin/env python3
"""Live queries end to end: N standing queries (WATCH) while the corpus is written, on a release server.

For each watcher count the script starts a fresh `newswired`, runs `newswire bench watch` (N watches from
benchmarks/protocol/queries.txt and pairs of its queries; one writer PUTs the corpus records in batches of 32 with 8
PUTs in flight) and reports the ingest time against a run with no watchers in the same round, the delivery latency
(PUT acknowledged -> event received) and events/s. Memory per watcher comes from separate runs that only register
the watches (and write one record): the server's peak RSS minus its RSS before, divided by N.

    python3 benchmarks/protocol/watch.py [--watchers 1000,10000] [--rounds 1] [--limit 0]
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

QUERIES = os.path.join(harness.ROOT, "benchmarks", "protocol", "queries.txt")


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


SNIPPETS = True


def bench_watch(port, watchers, limit):
    cmd = [harness.NEWSWIRE, "bench", "watch", "--port", str(port), "--watchers", str(watchers), "--queries", QUERIES,
           "--jsonl", harness.CORPUS]
    if limit:
        cmd += ["--limit", str(limit)]
    if not SNIPPETS:
        cmd += ["--no-snippets"]
    harness.COMMANDS.append(" ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench watch failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_run(watchers, limit):
    server = harness.Newswired()
    try:
        before_cpu = harness.cpu_seconds(server.pid)
        result = bench_watch(server.port, watchers, limit)
        result["serverCPUSeconds"] = harness.cpu_seconds(server.pid) - before_cpu
        return result
    finally:
        server.stop()


def memory_run(watchers):
    server = harness.Newswired()
    try:
        before = rss_kib(server.pid, "VmRSS")
        bench_watch(server.port, watchers, 1)
        peak = rss_kib(server.pid, "VmHWM")
        return before, peak
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--watchers", default="1000,10000")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="records to write (0: the whole corpus)")
    parser.add_argument("--no-snippets", action="store_true", help="hits without snippets")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory-per-watcher runs")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    global SNIPPETS
    SNIPPETS = not args.no_snippets
    harness.require_corpus()
    if not args.no_build:
        harness.log("building release newswired and newswire…")
        harness.build()
    counts = [int(n) for n in args.watchers.split(",")]
    print(f"## Live queries: delivery while the corpus is written ({'with' if SNIPPETS else 'without'} snippets)\n")
    harness.print_machine()
    rows = []
    for round_number in range(args.rounds):
        for watchers in counts:
            harness.log(f"round {round_number + 1}: baseline (no watchers)")
            baseline = one_run(0, args.limit)
            harness.log(f"round {round_number + 1}: {watchers} watchers")
            result = one_run(watchers, args.limit)
            latency = result["latencyMs"]
            rows.append([
                f"{watchers:,}", f"{result['articles']:,}",
                f"{baseline['ingestSeconds']:.1f} s", f"{result['ingestSeconds']:.1f} s",
                f"{result['ingestSeconds'] / baseline['ingestSeconds']:.2f}x",
                f"{latency['p50']:.1f} ms", f"{latency['p99']:.1f} ms", f"{latency['max']:.1f} ms",
                f"{result['events']:,}", harness.fmt_rate(result["eventsPerSecond"]),
                harness.fmt_us(result["serverMatchMicrosPerBatch"]), f"{result['serverEventsDropped']:.0f}",
                f"{baseline['serverCPUSeconds']:.1f} s / {result['serverCPUSeconds']:.1f} s",
            ])
    print(harness.table(
        ["watchers", "records", "ingest, no watchers", "ingest, watchers", "ratio", "delivery p50", "p99", "max",
         "events", "events/s", "match per committed batch", "events dropped (cut-offs)",
         "server CPU (no watchers / watchers)"], rows))
    print()
    memory_rows = []
    for watchers in ([] if args.no_memory else counts):
        harness.log(f"memory: {watchers} watchers registered")
        before, peak = memory_run(watchers)
        memory_rows.append([f"{watchers:,}", f"{before / 1024:.0f} MiB", f"{peak / 1024:.0f} MiB",
                            f"{(peak - before) * 1024 / watchers / 1024:.1f} KiB"])
    if memory_rows:
        print(harness.table(["watchers", "server RSS before", "peak RSS with the watches open", "per watcher"],
                            memory_rows))
    load = os.getloadavg()
    print(f"\nLoad average at the end: {load[0]:.2f}.")
    harness.print_commands()


if __name__ == "__main__":
    main()
