#!/usr/bin/env python3
"""Before/after for server changes: the same GET load against several newswired binaries, interleaved in rounds.

Each binary serves the first 1,000 corpus records on a fresh data directory and is driven by `newswire bench`
(50 connections, pipelines 1 and 16, 2 load-generator threads, 5 s after 1 s warmup). On a shared machine
throughput swings between identical runs; server CPU per request (from /proc/PID/stat) is the stable number.

Usage: benchmarks/protocol/compare_builds.py BIN[,BIN...] [--pipelines 1,16] [--rounds 2]
Build the binaries first, e.g. `git stash; swift build -c release --scratch-path .build-release --product
newswired; cp .build-release/release/newswired /tmp/newswired-before; git stash pop; ...`.
"""
import argparse
import os
import shutil
import tempfile

import harness as h


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries")
    parser.add_argument("--pipelines", default="1,16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    h.require_corpus()
    temp = tempfile.mkdtemp(prefix="newswire-compare-")
    jsonl = os.path.join(temp, "records.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        f.write("\n".join(h.first_records(1000)) + "\n")
    rows = []
    try:
        for round_number in range(1, args.rounds + 1):
            for binary in args.binaries.split(","):
                h.NEWSWIRED = binary
                server = h.Newswired()
                try:
                    h.ingest_jsonl(server.port, jsonl)
                    for pipeline in [int(p) for p in args.pipelines.split(",")]:
                        n = h.bench(server.port, ["-c", "50", "-p", str(pipeline), "-d", f"{args.seconds}s",
                                                  "--warmup", "1s", "--threads", "2"], server_pid=server.pid)
                        rows.append([round_number, os.path.basename(binary), pipeline, h.fmt_rate(n["throughput"]),
                                     h.fmt_us(n["latency"]["p50"]), h.fmt_us(n["latency"]["p99"]),
                                     f"{n['serverCPUMicrosPerRequest']:.2f}", f"{n['clientCPUMicrosPerRequest']:.2f}",
                                     f"{os.getloadavg()[0]:.1f}"])
                finally:
                    server.stop()
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    h.print_machine()
    print(h.table(["round", "binary", "pipeline", "GET/s", "p50", "p99", "server CPU µs/GET", "load-gen CPU µs/GET",
                   "load average"], rows))
    h.print_commands()


if __name__ == "__main__":
    main()
