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


def require_redis_and_corpus():
    h.require_corpus()
    if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
        sys.exit("skipped: redis-server / redis-benchmark not installed (apt-get install -y redis-server redis-tools)")


def start_redis(port, prefix=()):
    cmd = [*prefix, "redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1",
           "--protected-mode", "no", "--loglevel", "warning"]
    h.COMMANDS.append(" ".join(cmd[:len(prefix) + 3]) + " --save '' --appendonly no --bind 127.0.0.1")
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
    cmd = [*h.GENERATOR_PREFIX, "redis-benchmark", "-p", str(port), "-c", str(connections), "-P", str(pipeline), "-n", str(requests),
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


def start_both(records, newswired_extra=(), server_prefix=()):
    """The same records in a fresh redis-server and a fresh newswired, each started under `server_prefix` (e.g.
    `taskset -c 1`). Returns (redis_port, redis, server, temp): stop both with stop_both()."""
    temp = tempfile.mkdtemp(prefix="newswire-redis-")
    jsonl = os.path.join(temp, "records.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        f.write("\n".join(records) + "\n")
    redis_port = h.free_port()
    redis = start_redis(redis_port, server_prefix)
    load_redis(redis_port, records)
    server = h.Newswired(extra=list(newswired_extra), prefix=server_prefix)
    h.ingest_jsonl(server.port, jsonl)
    return redis_port, redis, server, temp


def stop_both(redis, server, temp):
    server.stop()
    redis.terminate()
    redis.wait()
    shutil.rmtree(temp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--pipelines", default="1,16")
    parser.add_argument("--client-threads", type=int, default=2,
                        help="threads of both load generators (one is not enough to saturate either server)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    require_redis_and_corpus()
    if not args.no_build:
        h.build()
    records = h.first_records(args.records)
    mean_size = sum(len(r.encode()) for r in records) / len(records)

    redis_port, redis, server, temp = start_both(records)

    # Every configuration runs --rounds times, interleaved, and the table shows the median run (by throughput)
    # with the range: on a shared machine single runs swing by up to 2x.
    runs = {}
    try:
        for round_number in range(args.rounds):
            for pipeline in [int(p) for p in args.pipelines.split(",")]:
                probe = redis_benchmark(redis_port, redis.pid, args.connections, pipeline, 20_000 * pipeline,
                                        args.records, args.client_threads)
                requests = int(max(probe["rps"] * args.seconds, 10_000))
                h.log(f"round {round_number + 1}: redis pipeline {pipeline}: {requests} requests")
                r = redis_benchmark(redis_port, redis.pid, args.connections, pipeline, requests, args.records,
                                    args.client_threads)
                runs.setdefault(("redis", pipeline), []).append(
                    {"rps": r["rps"], "p50": r["p50"], "p99": r["p99"], "server": r["server_us"],
                     "client": r["client_us"], "size": mean_size, "errors": 0})
                for compression in (False, True):
                    h.log(f"round {round_number + 1}: newswire pipeline {pipeline} compression {compression}")
                    flags = ["-c", str(args.connections), "-p", str(pipeline), "-d", f"{args.seconds}s",
                             "--warmup", "1s", "--threads", str(args.client_threads)]
                    if not compression:
                        flags.append("--no-compression")
                    n = h.bench(server.port, flags, server_pid=server.pid)
                    runs.setdefault(("zlib on" if compression else "zlib off", pipeline), []).append(
                        {"rps": n["throughput"], "p50": n["latency"]["p50"], "p99": n["latency"]["p99"],
                         "server": n["serverCPUMicrosPerRequest"], "client": n["clientCPUMicrosPerRequest"],
                         "size": n["bytesReceived"] / max(1, n["requests"]), "errors": sum(n["errors"].values())})
    finally:
        stop_both(redis, server, temp)

    def median(values):
        ordered = sorted(values)
        return ordered[len(ordered) // 2]

    rows = []
    for pipeline in [int(p) for p in args.pipelines.split(",")]:
        redis_median = median([run["rps"] for run in runs[("redis", pipeline)]])
        redis_cpu = median([run["server"] for run in runs[("redis", pipeline)]])
        for system, label in (("redis", "redis-server + redis-benchmark"),
                              ("zlib off", "newswired + newswire bench (zlib off)"),
                              ("zlib on", "newswired + newswire bench (zlib on)")):
            measured = runs[(system, pipeline)]
            middle = sorted(measured, key=lambda run: run["rps"])[len(measured) // 2]
            rps = [run["rps"] for run in measured]
            server_cpu = median([run["server"] for run in measured])
            errors = sum(run["errors"] for run in measured)
            rows.append([
                label, pipeline, h.fmt_rate(middle["rps"]),
                f"{h.fmt_rate(min(rps))}–{h.fmt_rate(max(rps))}" if len(rps) > 1 else "",
                h.fmt_us(middle["p50"]), h.fmt_us(middle["p99"]), f"{server_cpu:.2f}",
                f"{median([run['client'] for run in measured]):.2f}",
                f"{middle['rps'] / redis_median:.2f}", f"{server_cpu / redis_cpu:.2f}",
                f"{middle['size']:,.0f} B" + (f" ({errors} errors)" if errors else ""),
            ])
    print(f"## Record serving: GET of {args.records} corpus records, {args.connections} connections, "
          f"{args.client_threads} load-generator threads, loopback, median of {args.rounds} rounds\n")
    h.print_machine()
    print(h.table(["server + load generator", "pipeline", "GET/s (median run)", "GET/s range", "p50", "p99",
                   "server CPU µs/GET (median)", "load-gen CPU µs/GET", "throughput vs redis",
                   "server CPU vs redis", "response on the wire"], rows))
    print(f"\nRecords: the first {args.records} lines of zh-news.jsonl (mean {mean_size:,.0f} bytes as JSON). "
          "Server CPU is user+system time of the server process over the measured run divided by the GETs "
          "answered (clock-tick resolution, 10 ms). p50/p99 are those of the median run.")
    h.print_commands()


if __name__ == "__main__":
    main()
