#!/usr/bin/env python3
"""GET at pipeline 1 with ONE definition of latency: `newswire bench` drives newswired and, through its RESP mode
(`--resp-keys`), redis-server, with the same connections, closed loop, key choice and timing code; redis-benchmark
drives redis-server too, as the peer the other tables use. Rounds are interleaved; every row reports p50, p99,
p99.9 and server CPU per GET (user + system time of the server process over the measured window).

Usage: benchmarks/protocol/get_tail.py [--records 1000] [--connections 50] [--seconds 5] [--rounds 3] [--no-build]
         [--newswired-args "--event-loops 1"]
Needs: redis-server and redis-tools (apt-get install -y redis-server redis-tools) and ../shared/corpus.
"""
import argparse
import shlex

import harness as h
from records_vs_redis import redis_benchmark, require_redis_and_corpus, start_both, stop_both


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--client-threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--newswired-args", default="", help="extra newswired flags, e.g. \"--event-loops 1\"")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    require_redis_and_corpus()
    if not args.no_build:
        h.build()
    records = h.first_records(args.records)
    redis_port, redis, server, temp = start_both(records, shlex.split(args.newswired_args))

    common = ["-c", str(args.connections), "-p", "1", "-d", f"{args.seconds}s", "--warmup", "1s",
              "--threads", str(args.client_threads), "--no-compression"]
    runs = {}
    try:
        for round_number in range(args.rounds):
            h.log(f"round {round_number + 1}: newswired, newswire bench")
            n = h.bench(server.port, common + ["--max-ids", str(args.records)], server_pid=server.pid)
            runs.setdefault("newswire", []).append(n)
            h.log(f"round {round_number + 1}: redis-server, newswire bench --resp-keys")
            r = h.bench(redis_port, common + ["--resp-keys", str(args.records)], server_pid=redis.pid)
            runs.setdefault("redis-resp", []).append(r)
            h.log(f"round {round_number + 1}: redis-server, redis-benchmark")
            requests = int(max(r["throughput"] * args.seconds, 10_000))
            b = redis_benchmark(redis_port, redis.pid, args.connections, 1, requests, args.records,
                                args.client_threads)
            runs.setdefault("redis-benchmark", []).append(b)
    finally:
        stop_both(redis, server, temp)

    rows = []
    for round_number in range(args.rounds):
        n, r, b = (runs[k][round_number] for k in ("newswire", "redis-resp", "redis-benchmark"))
        for label, result in (("newswired, newswire bench", n), ("redis-server, newswire bench --resp-keys", r)):
            lat = result["latency"]
            errors = sum(result["errors"].values())
            rows.append([round_number + 1, label, h.fmt_rate(result["throughput"]), h.fmt_us(lat["p50"]),
                         h.fmt_us(lat["p99"]), h.fmt_us(lat["p999"]), h.fmt_us(lat["max"]),
                         f"{result['serverCPUMicrosPerRequest']:.2f}",
                         f"{lat['p99'] / r['latency']['p99']:.2f}",
                         f"{result['serverCPUMicrosPerRequest'] / r['serverCPUMicrosPerRequest']:.2f}"
                         + (f" ({errors} errors)" if errors else "")])
        rows.append([round_number + 1, "redis-server, redis-benchmark", h.fmt_rate(b["rps"]), h.fmt_us(b["p50"]),
                     h.fmt_us(b["p99"]), "", "", f"{b['server_us']:.2f}", "", ""])
    print(f"## GET at pipeline 1, one latency definition: {args.records} corpus records, {args.connections} "
          f"connections, {args.client_threads} load-generator threads, {args.rounds} interleaved rounds\n")
    h.print_machine()
    print(h.table(["round", "server, load generator", "GET/s", "p50", "p99", "p99.9", "max", "server CPU µs/GET",
                   "p99 vs redis (same generator)", "server CPU vs redis (same generator)"], rows))
    print("\nLatency runs from writing a request to reading its whole answer, in closed loop, for every row of "
          "`newswire bench`; zlib off, so both servers send the record as stored (about 1.6 kB).")
    h.print_commands()


if __name__ == "__main__":
    main()
