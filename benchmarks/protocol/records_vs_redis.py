#!/usr/bin/env python3
"""Record serving: `newswire bench` GET against newswired vs redis-benchmark GET against redis-server.

Both servers hold the same N corpus records (redis: the JSON line under key:%012d; newswired: the same lines
ingested with `newswire ingest --jsonl`), run on loopback, and are driven at the same connections and pipeline
depths. Server CPU per request comes from /proc/<pid>/stat of each server process over each run; the load
generator's own CPU per request is reported too, so it is clear which side limits the number.

Usage: benchmarks/protocol/records_vs_redis.py [--records 1000] [--connections 50] [--seconds 5] [--no-build]
Needs: redis-server and redis-tools (apt-get install -y redis-server redis-tools) and ../shared/corpus.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import harness as h


def start_redis(port):
    cmd = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1",
           "--protected-mode", "no", "--loglevel", "warning"]
    h.COMMANDS.append(" ".join(cmd[:3]) + " --save '' --appendonly no --bind 127.0.0.1")
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h.wait_for_port(port, process=process)
    return process


def load_redis(port, records):
    payload = bytearray()
    for index, record in enumerate(records):
        key = f"key:{index:012d}".encode()
        value = record.encode()
        payload += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
    h.COMMANDS.append(f"redis-cli -p {port} --pipe < SET key:%012d <record JSON> for each record")
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=bytes(payload), check=True,
                   stdout=subprocess.DEVNULL)


def redis_benchmark(port, pid, connections, pipeline, requests, keyspace, threads=2):
    cmd = ["redis-benchmark", "-p", str(port), "-c", str(connections), "-P", str(pipeline), "-n", str(requests),
           "-t", "get", "-r", str(keyspace), "--threads", str(threads), "--csv"]
    h.COMMANDS.append(" ".join(cmd))
    cpu0, client0 = h.cpu_seconds(pid), h.children_cpu()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    cpu1, client1 = h.cpu_seconds(pid), h.children_cpu()
    rows = [line.replace('"', "").split(",") for line in out.strip().splitlines()]
    header, values = rows[0], next(r for r in rows[1:] if r[0].startswith("GET"))
    data = dict(zip(header, values))
    return {
        "rps": float(data["rps"]),
        "p50": float(data["p50_latency_ms"]) * 1000,
        "p99": float(data["p99_latency_ms"]) * 1000,
        "server_us": (cpu1 - cpu0) * 1e6 / requests,
        "client_us": (client1 - client0) * 1e6 / requests,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--pipelines", default="1,16")
    parser.add_argument("--client-threads", type=int, default=2,
                        help="threads of both load generators (one is not enough to saturate either server)")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    h.require_corpus()
    if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
        sys.exit("skipped: redis-server / redis-benchmark not installed (apt-get install -y redis-server redis-tools)")
    if not args.no_build:
        h.build()
    records = h.first_records(args.records)
    mean_size = sum(len(r.encode()) for r in records) / len(records)

    temp = tempfile.mkdtemp(prefix="newswire-redis-")
    jsonl = os.path.join(temp, "records.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        f.write("\n".join(records) + "\n")
    redis_port = h.free_port()
    redis = start_redis(redis_port)
    load_redis(redis_port, records)
    server = h.Newswired()
    h.ingest_jsonl(server.port, jsonl)

    rows = []
    try:
        for pipeline in [int(p) for p in args.pipelines.split(",")]:
            # Size the redis run to last about as long as the newswire run (from a short calibration).
            probe = redis_benchmark(redis_port, redis.pid, args.connections, pipeline, 20_000 * pipeline, args.records,
                                    args.client_threads)
            requests = int(max(probe["rps"] * args.seconds, 10_000))
            h.log(f"redis pipeline {pipeline}: {requests} requests")
            r = redis_benchmark(redis_port, redis.pid, args.connections, pipeline, requests, args.records,
                                args.client_threads)
            rows.append(["redis-server + redis-benchmark", pipeline, h.fmt_rate(r["rps"]), h.fmt_us(r["p50"]),
                         h.fmt_us(r["p99"]), f"{r['server_us']:.2f}", f"{r['client_us']:.2f}", "1.00",
                         f"{mean_size:,.0f} B"])
            for compression in (False, True):
                h.log(f"newswire pipeline {pipeline} compression {compression}")
                flags = ["-c", str(args.connections), "-p", str(pipeline), "-d", f"{args.seconds}s", "--warmup", "1s",
                         "--threads", str(args.client_threads)]
                if not compression:
                    flags.append("--no-compression")
                n = h.bench(server.port, flags, server_pid=server.pid)
                errors = sum(n["errors"].values())
                response = n["bytesReceived"] / max(1, n["requests"])
                rows.append([
                    f"newswired + newswire bench (zlib {'on' if compression else 'off'})", pipeline,
                    h.fmt_rate(n["throughput"]), h.fmt_us(n["latency"]["p50"]), h.fmt_us(n["latency"]["p99"]),
                    f"{n['serverCPUMicrosPerRequest']:.2f}", f"{n['clientCPUMicrosPerRequest']:.2f}",
                    f"{n['throughput'] / r['rps']:.2f}" + (f" ({errors} errors)" if errors else ""),
                    f"{response:,.0f} B",
                ])
    finally:
        server.stop()
        redis.terminate()
        redis.wait()
        shutil.rmtree(temp, ignore_errors=True)

    print(f"## Record serving: GET of {args.records} corpus records, {args.connections} connections, "
          f"{args.client_threads} load-generator threads, loopback\n")
    h.print_machine()
    print(h.table(["server + load generator", "pipeline", "GET/s", "p50", "p99", "server CPU µs/GET",
                   "load-gen CPU µs/GET", "throughput vs redis", "response on the wire"], rows))
    print(f"\nRecords: the first {args.records} lines of zh-news.jsonl (mean {mean_size:,.0f} bytes as JSON). "
          "Server CPU is user+system time of the server process over the measured run divided by the GETs "
          "answered (clock-tick resolution, 10 ms).")
    h.print_commands()


if __name__ == "__main__":
    main()
