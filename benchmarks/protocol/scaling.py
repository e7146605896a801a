#!/usr/bin/env python3
"""Scaling curves: GET throughput and p99 as connections grow 1 -> 256 (redis-server alongside as the peer), and
GET / SEARCH throughput as the corpus grows 1x -> 10x.

Connections: the whole corpus in newswired and the same JSON lines in redis-server; GET of uniformly random ids,
pipeline 1, at each connection count. Corpus: the corpus repeated k times (copies get ids suffixed `-rJ`, so they
are distinct articles that the near-duplicate detector marks as duplicates) is ingested into a fresh server, then
GET (50 connections, pipeline 16, uniform over every id) and SEARCH (16 connections) are measured.

Usage: benchmarks/protocol/scaling.py [--connections 1,4,16,64,256] [--factors 1,2,5,10] [--seconds 4] [--no-build]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import harness as h
from records_vs_redis import redis_benchmark, start_redis

QUERIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries.txt")


def load_redis_records(port, records):
    payload = bytearray()
    for index, record in enumerate(records):
        key = f"key:{index:012d}".encode()
        value = record.encode()
        payload += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=bytes(payload), check=True,
                   stdout=subprocess.DEVNULL)


def connection_curve(args, records, jsonl):
    rows = []
    server = h.Newswired()
    redis = start_redis(h.free_port()) if shutil.which("redis-server") else None
    redis_port = None
    try:
        h.ingest_jsonl(server.port, jsonl)
        if redis:
            redis_port = int(redis.args[2])
            load_redis_records(redis_port, records)
        # Fill the record cache first (it fills on each id's first GET), so every row measures cached serving.
        h.bench(server.port, ["-c", "50", "-p", "16", "-d", "5s", "--warmup", "0s", "--threads", "2"])
        for connections in [int(c) for c in args.connections.split(",")]:
            n = h.bench(server.port, ["-c", str(connections), "-p", "1", "-d", f"{args.seconds}s", "--warmup", "2s", "--threads", "2"],
                        server_pid=server.pid)
            row = [connections, h.fmt_rate(n["throughput"]), h.fmt_us(n["latency"]["p50"]),
                   h.fmt_us(n["latency"]["p99"]), f"{n['serverCPUMicrosPerRequest']:.2f}"]
            if redis:
                probe = redis_benchmark(redis_port, redis.pid, connections, 1, 20_000, len(records))
                requests = int(max(probe["rps"] * args.seconds, 10_000))
                r = redis_benchmark(redis_port, redis.pid, connections, 1, requests, len(records))
                row += [h.fmt_rate(r["rps"]), h.fmt_us(r["p50"]), h.fmt_us(r["p99"]), f"{r['server_us']:.2f}",
                        f"{n['throughput'] / r['rps']:.2f}"]
            errors = sum(n["errors"].values())
            row.append(str(errors))
            rows.append(row)
    finally:
        server.stop()
        if redis:
            redis.terminate()
            redis.wait()
    headers = ["connections", "newswire GET/s", "p50", "p99", "server CPU µs/GET"]
    if redis:
        headers += ["redis GET/s", "redis p50", "redis p99", "redis CPU µs/GET", "newswire vs redis"]
    headers.append("errors")
    return h.table(headers, rows)


def corpus_curve(args, records, temp):
    rows = []
    for factor in [int(f) for f in args.factors.split(",")]:
        path = os.path.join(temp, f"corpus-x{factor}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for copy in range(factor):
                for line in records:
                    if copy:
                        r = json.loads(line)
                        r["id"] = f"{r['id']}-r{copy}"
                        line = json.dumps(r, ensure_ascii=False)
                    f.write(line + "\n")
        server = h.Newswired()
        try:
            seconds, summary = h.ingest_jsonl(server.port, path)
            stored = summary["ingested"]
            # The record cache fills on each id's first GET: warm up long enough to touch (nearly) every id, so the
            # row measures serving, not the first read of each record from SQLite.
            g = h.bench(server.port, ["-c", "50", "-p", "16", "-d", f"{args.seconds}s", "--warmup",
                                      f"{args.corpus_warmup * factor}s", "--threads", "2",
                                      "--max-ids", str(len(records) * factor)], server_pid=server.pid)
            s = h.bench(server.port, ["-c", "16", "-d", f"{args.seconds}s", "--warmup", "1s", "--threads", "2",
                                      "--mix", "search=1",
                                      "--queries", QUERIES], server_pid=server.pid)
        finally:
            server.stop()
        rows.append([f"{factor}×", f"{stored:,}", f"{seconds:.1f} s", h.fmt_rate(stored / seconds),
                     h.fmt_rate(g["throughput"]), h.fmt_us(g["latency"]["p99"]), f"{g['serverCPUMicrosPerRequest']:.2f}",
                     h.fmt_rate(s["throughput"]), h.fmt_us(s["latency"]["p99"]),
                     str(sum(g["errors"].values()) + sum(s["errors"].values()))])
        os.remove(path)
    return h.table(["corpus", "articles", "ingest time", "ingest/s", "GET/s (50×16)", "GET p99",
                    "server CPU µs/GET", "searches/s (16 conns)", "search p99", "errors"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,4,16,64,256")
    parser.add_argument("--factors", default="1,2,5,10")
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--corpus-warmup", type=float, default=5,
                        help="seconds of GET warmup per 1x of corpus: each record's first GET reads SQLite (about 100 µs "
                             "of CPU), so at 10x filling the cache takes more than 10 s on 2 cores")
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--skip-connections", action="store_true")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    h.require_corpus()
    if not args.no_build:
        h.build()
    with open(h.CORPUS, encoding="utf-8") as f:
        records = [line.rstrip("\n") for line in f if line.strip()]
    temp = tempfile.mkdtemp(prefix="newswire-scaling-")
    try:
        jsonl = os.path.join(temp, "corpus.jsonl")
        shutil.copy(h.CORPUS, jsonl)
        print("## Scaling\n")
        h.print_machine()
        if not args.skip_connections:
            by_connections = connection_curve(args, records, jsonl)
            print(f"### Connections: GET of {len(records):,} corpus records, pipeline 1\n")
            print(by_connections, flush=True)
        if not args.skip_corpus:
            by_corpus = corpus_curve(args, records, temp)
            print(f"\n### Corpus {args.factors.replace(',', '×, ')}×\n")
            print(by_corpus)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    h.print_commands()


if __name__ == "__main__":
    main()
