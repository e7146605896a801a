#!/usr/bin/env python3
"""GET at pipeline 1 with ONE definition of latency: `newswire bench` drives newswired and, through its RESP mode
(`--resp-keys`), redis-server, with the same connections, closed loop, key choice and timing code; redis-benchmark
drives redis-server too, as the peer the other tables use. Rounds are interleaved; every row reports p50, p99,
p99.9 and server CPU per GET (user + system time of the server process over the measured window).

With `--pin`, every server runs on CPU 1 and every load generator on CPU 0 (`taskset`), so a server's threads
compete with each other for their core but never with the generator's. `--newswired-args` may be given more than
once: each value is one more newswired (e.g. `--newswired-args "" --newswired-args "--event-loops 1"`), and
`--newswired NAME=BIN,NAME=BIN` runs each set of flags on each build; all are measured in the same rounds.

Usage: benchmarks/protocol/get_tail.py [--records 1000] [--connections 50] [--seconds 5] [--rounds 3] [--no-build]
         [--newswired-args "--event-loops 1"]... [--newswired before=BIN,after=BIN] [--pin]
Needs: redis-server and redis-tools (apt-get install -y redis-server redis-tools) and ../shared/corpus.
"""
import argparse
import os
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
    parser.add_argument("--newswired-args", action="append",
                        help="extra newswired flags, e.g. \"--event-loops 1\"; repeat for one more server each")
    parser.add_argument("--newswired", default="",
                        help="NAME=BIN,... : one more server per build (e.g. before and after a change), same rounds")
    parser.add_argument("--pin", action="store_true",
                        help="servers on CPU 1, load generators on CPU 0 (taskset; needs 2 CPUs)")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    require_redis_and_corpus()
    if not args.no_build:
        h.build()
    records = h.first_records(args.records)
    builds = [tuple(item.split("=", 1)) for item in args.newswired.split(",") if item] or [("", h.NEWSWIRED)]
    # Every build with every set of flags: (label, binary, flags).
    variants = [(" ".join(filter(None, (name, flags))), binary, flags)
                for name, binary in builds for flags in (args.newswired_args or [""])]
    server_prefix = ["taskset", "-c", "1"] if args.pin else []
    if args.pin:
        h.GENERATOR_PREFIX[:] = ["taskset", "-c", "0"]
    h.NEWSWIRED = variants[0][1]
    redis_port, redis, server, temp = start_both(records, shlex.split(variants[0][2]), server_prefix)
    servers = [(variants[0][0], server)]
    for label, binary, flags in variants[1:]:
        h.NEWSWIRED = binary
        extra = h.Newswired(extra=shlex.split(flags), prefix=server_prefix)
        h.ingest_jsonl(extra.port, os.path.join(temp, "records.jsonl"))
        servers.append((label, extra))

    common = ["-c", str(args.connections), "-p", "1", "-d", f"{args.seconds}s", "--warmup", "1s",
              "--threads", str(args.client_threads), "--no-compression"]
    runs = {}
    try:
        for round_number in range(args.rounds):
            for variant, newswired in servers:
                h.log(f"round {round_number + 1}: newswired {variant}, newswire bench")
                n = h.bench(newswired.port, common + ["--max-ids", str(args.records)], server_pid=newswired.pid)
                runs.setdefault(variant, []).append(n)
            h.log(f"round {round_number + 1}: redis-server, newswire bench --resp-keys")
            r = h.bench(redis_port, common + ["--resp-keys", str(args.records)], server_pid=redis.pid)
            runs.setdefault("redis-resp", []).append(r)
            h.log(f"round {round_number + 1}: redis-server, redis-benchmark")
            requests = int(max(r["throughput"] * args.seconds, 10_000))
            b = redis_benchmark(redis_port, redis.pid, args.connections, 1, requests, args.records,
                                args.client_threads)
            runs.setdefault("redis-benchmark", []).append(b)
    finally:
        for _, extra in servers[1:]:
            extra.stop()
        stop_both(redis, server, temp)

    rows = []
    for round_number in range(args.rounds):
        r, b = (runs[k][round_number] for k in ("redis-resp", "redis-benchmark"))
        labelled = [(f"newswired{' ' + v if v else ''}, newswire bench", runs[v][round_number]) for v, _ in servers]
        for label, result in labelled + [("redis-server, newswire bench --resp-keys", r)]:
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
          f"connections, {args.client_threads} load-generator threads, {args.rounds} interleaved rounds"
          f"{', servers on CPU 1 and load generators on CPU 0' if args.pin else ''}\n")
    h.print_machine()
    print(h.table(["round", "server, load generator", "GET/s", "p50", "p99", "p99.9", "max", "server CPU µs/GET",
                   "p99 vs redis (same generator)", "server CPU vs redis (same generator)"], rows))
    print("\nLatency runs from writing a request to reading its whole answer, in closed loop, for every row of "
          "`newswire bench`; zlib off, so both servers send the record as stored (about 1.6 kB).")
    h.print_commands()


if __name__ == "__main__":
    main()
