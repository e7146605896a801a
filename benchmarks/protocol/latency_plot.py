#!/usr/bin/env python3
"""Latency by percentile, Newswire vs Redis, drawn by `newswire bench plot`.

Both servers hold the same N corpus records (as in records_vs_redis.py) and are driven at the same connections and
pipeline depth, one after the other: `newswire bench --histogram` writes Newswire's distribution; redis-benchmark's
"Latency by percentile distribution" is converted to the same HdrHistogram .hgrm format. Writes both .hgrm files and
the SVG chart into --out, prints a summary table and the commands.

Usage: benchmarks/protocol/latency_plot.py [--pipeline 1] [--connections 50] [--seconds 5] [--out DIR] [--no-build]
Needs: redis-server and redis-tools (apt-get install -y redis-server redis-tools) and ../shared/corpus.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import harness as h
from records_vs_redis import load_redis, require_redis_and_corpus, start_redis

ROW = re.compile(r"^\s*([0-9.]+)% <= ([0-9.]+) milliseconds \(cumulative count (\d+)\)")


def redis_distribution(port, connections, pipeline, requests, keyspace, threads):
    """redis-benchmark's percentile distribution as .hgrm text, and its requests/s."""
    cmd = ["redis-benchmark", "-p", str(port), "-c", str(connections), "-P", str(pipeline), "-n", str(requests),
           "-t", "get", "-r", str(keyspace), "--threads", str(threads)]
    h.COMMANDS.append(" ".join(cmd))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    # Only the "Latency by percentile distribution" block: the "Cumulative distribution" block after it has lines
    # of the same shape at other points.
    section = out.split("Latency by percentile distribution:", 1)[-1].split("Cumulative distribution", 1)[0]
    rows = [(float(m.group(2)), float(m.group(1)) / 100, int(m.group(3)))
            for m in map(ROW.match, section.splitlines()) if m]
    if not rows:
        sys.exit("redis-benchmark printed no percentile distribution (needs redis-benchmark 7 or later)")
    rps = float(re.search(r"throughput summary: ([0-9.]+) requests per second", out).group(1))
    lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
    for value, percentile, count in rows:
        if percentile < 1:
            lines.append(f"{value:12.3f} {percentile:2.12f} {count:10d} {1 / (1 - percentile):14.2f}")
        else:
            lines.append(f"{value:12.3f} {percentile:2.12f} {count:10d}")
    lines.append(f"#[Max     = {rows[-1][0]:12.3f}, Total count    = {rows[-1][2]:12d}]")
    return "\n".join(lines) + "\n", rps, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--client-threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/protocol/results")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    require_redis_and_corpus()
    if not args.no_build:
        h.build()
    os.makedirs(args.out, exist_ok=True)
    records = h.first_records(args.records)
    temp = tempfile.mkdtemp(prefix="newswire-plot-")
    jsonl = os.path.join(temp, "records.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        f.write("\n".join(records) + "\n")
    name = f"latency_p{args.pipeline}"
    newswire_hgrm = os.path.join(args.out, f"{name}_newswire.hgrm")
    redis_hgrm = os.path.join(args.out, f"{name}_redis.hgrm")
    svg = os.path.join(args.out, f"{name}.svg")
    redis_port = h.free_port()
    redis = start_redis(redis_port)
    load_redis(redis_port, records)
    server = h.Newswired()
    h.ingest_jsonl(server.port, jsonl)
    try:
        probe = subprocess.run(["redis-benchmark", "-p", str(redis_port), "-c", str(args.connections), "-P",
                                str(args.pipeline), "-n", "20000", "-t", "get", "-r", str(args.records), "--threads",
                                str(args.client_threads), "--csv"], check=True, capture_output=True, text=True).stdout
        probe_rps = float(probe.strip().splitlines()[1].replace('"', "").split(",")[1])
        requests = int(max(probe_rps * args.seconds, 10_000))
        text, redis_rps, redis_rows = redis_distribution(redis_port, args.connections, args.pipeline, requests,
                                                         args.records, args.client_threads)
        with open(redis_hgrm, "w") as f:
            f.write(text)
        n = h.bench(server.port, ["-c", str(args.connections), "-p", str(args.pipeline), "-d", f"{args.seconds}s",
                                  "--warmup", "1s", "--threads", str(args.client_threads), "--no-compression",
                                  "--histogram", newswire_hgrm], server_pid=server.pid)
    finally:
        server.stop()
        redis.terminate()
        redis.wait()
        shutil.rmtree(temp, ignore_errors=True)
    plot = [h.NEWSWIRE, "bench", "plot", f"Newswire (newswired, zlib off)={newswire_hgrm}",
            f"Redis 7 (redis-server)={redis_hgrm}", "-o", svg, "--title",
            f"GET latency by percentile, {args.connections} connections, pipeline {args.pipeline}, "
            f"{args.records} corpus records"]
    h.COMMANDS.append(" ".join(f"'{a}'" if " " in a else a for a in plot))
    subprocess.run(plot, check=True)

    def at(rows, p):
        return next(value for value, percentile, _ in rows if percentile >= p)
    print(f"## GET latency by percentile: {args.connections} connections, pipeline {args.pipeline}\n")
    h.print_machine()
    print(h.table(["server + load generator", "GET/s", "p50", "p99", "p99.9", "max"], [
        ["redis-server + redis-benchmark", h.fmt_rate(redis_rps), h.fmt_us(at(redis_rows, 0.5) * 1000),
         h.fmt_us(at(redis_rows, 0.99) * 1000), h.fmt_us(at(redis_rows, 0.999) * 1000),
         h.fmt_us(redis_rows[-1][0] * 1000)],
        ["newswired + newswire bench (zlib off)", h.fmt_rate(n["throughput"]), h.fmt_us(n["latency"]["p50"]),
         h.fmt_us(n["latency"]["p99"]), h.fmt_us(n["latency"]["p999"]), h.fmt_us(n["latency"]["max"])],
    ]))
    print(f"\nChart: `{os.path.relpath(svg, h.ROOT)}`; distributions: `{os.path.relpath(newswire_hgrm, h.ROOT)}`, "
          f"`{os.path.relpath(redis_hgrm, h.ROOT)}`.")
    h.print_commands()


if __name__ == "__main__":
    main()
