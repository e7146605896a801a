#!/usr/bin/env python3
"""Where a GET's server CPU goes at pipeline 1, itemised by component from a perf profile, for one or more builds.

Each build serves the same corpus records; `newswire bench` drives GETs at pipeline 1 (50 connections, 2 generator
threads, zlib off, as `get_tail.py`), and `perf record -e cpu-clock -g` samples the server for `--seconds` in the
middle of the run. The table splits the server's samples by inclusive call-graph share into the syscalls (kernel
work both servers do per GET), the record lookup and copy, the rest of the handler, and SwiftNIO's read and write
paths around it, each also in µs per GET (the share times the run's server CPU per GET, measured under perf).
Builds run one after the other, so compare them on a quiet machine or repeat; the counts of perf samples vary with
load, the split much less. (The VM has no hardware counters for `perf stat -e instructions`, and valgrind 3.19
crashes on newswired, so time samples are what there is.)

A last row profiles redis-server under the same generator (`--resp-keys`) for its user/kernel split.

Usage: benchmarks/protocol/get_profile.py [--newswired NAME=BIN,...] [--records 1000] [--seconds 6] [--no-redis]
Needs: perf, redis-server and redis-tools, ../shared/corpus, a release build.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading

import harness as h
from records_vs_redis import load_redis, start_redis

# (label, symbol substring whose largest inclusive share is taken)
PARTS = {
    "write": "__GI___libc_write",
    "read": "NIOPosix6SocketC4read7pointer",
    "epoll": "epoll_wait",
    "readComplete": "CachedGetHandlerC19channelReadComplete",
    "channelRead": "CachedGetHandlerC11channelRead7context",
    "answer": "CachedGetHandlerC6answer",
    "lookup": "RecordCacheC14withPlainFrame",
    "lookupEntry": "RecordCacheC9withEntry10forIDBytes",
    "readFromSocket": "BaseStreamSocketChannelC08readFromD0",
    "readIfNeeded": "BaseSocketChannelC13readIfNeeded0",
    "holdUnsent": "CachedGetHandlerC17holdUnsentAnswers",
    "statistics": "recordCachedGets",
}


def shares(data):
    out = subprocess.run(["perf", "report", "-i", data, "--children", "--sort", "sym", "--stdio", "-g", "none",
                          "--percent-limit", "0"], capture_output=True, text=True, check=True).stdout
    inclusive = {}
    for line in out.splitlines():
        m = re.match(r"\s+([0-9.]+)%\s+([0-9.]+)%\s+\[.\]\s+(\S+)", line)
        if m:
            inclusive[m.group(3)] = max(inclusive.get(m.group(3), 0.0), float(m.group(1)))
    found = {key: max([v for k, v in inclusive.items() if sub in k] or [0.0]) for key, sub in PARTS.items()}
    kernel = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso", "--stdio", "-g", "none"],
                            capture_output=True, text=True, check=True).stdout
    m = re.search(r"([0-9.]+)%\s+\[kernel\.kallsyms\]", kernel)
    found["kernel"] = float(m.group(1)) if m else 0.0
    return found


def rows(p):
    lookup = max(p["lookup"], p["lookupEntry"])
    items = [
        ("kernel: `write` of the answer (syscall, loopback delivery, waking the reader)", p["write"]),
        ("kernel: `read` of the request", p["read"]),
        ("kernel: `epoll_wait`", p["epoll"]),
        ("record lookup and frame copy, under the cache's lock", lookup),
        ("the rest of `answer` (the state machine's admission)", p["answer"] - lookup),
        ("`channelRead` outside `answer` (header parse, buffer handling)", p["channelRead"] - p["answer"]),
        ("NIO read path around the handler (receive buffer pool, pipeline)", p["readFromSocket"] - p["read"]
         - p["channelRead"]),
        ("NIO write path around the syscall, from `channelReadComplete` (pipeline, pending writes, flush)",
         p["readComplete"] - p["write"] - p["holdUnsent"] - p["statistics"]),
        ("asking the channel for its buffered bytes after each write (`holdUnsentAnswers`)", p["holdUnsent"]),
        ("statistics (one lock per burst)", p["statistics"]),
        ("`read()` walked from the pipeline's tail after each burst (`readIfNeeded0`)", p["readIfNeeded"]),
    ]
    items.append(("everything else (event loop ticks, scheduler, timers)", 100 - sum(v for _, v in items)))
    return items


def profile(name, port, pid, key_args, args, temp, shown_pid="$SERVER_PID"):
    """Runs the GET load against the server on `port` and samples process `pid` in the middle of it."""
    bench = {}
    args_bench = ["-c", "50", "-p", "1", "-d", f"{3 * args.seconds + 6}s", "--warmup", "1s", "--threads", "2",
                  "--no-compression", *key_args]
    thread = threading.Thread(target=lambda: bench.update(h.bench(port, args_bench, pid)))
    thread.start()
    threading.Event().wait(4)
    data = os.path.join(temp, f"{name}.perf.data")
    cmd = ["perf", "record", "-e", "cpu-clock", "-g", "--pid", str(pid), "-o", data, "--", "sleep", str(args.seconds)]
    h.COMMANDS.append(" ".join(cmd[:6] + [shown_pid] + cmd[7:]))
    for _ in range(3):
        # perf gives up when a thread it is attaching to ends meanwhile (exit 255, an empty file): retry.
        subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if os.path.exists(data) and os.path.getsize(data) > 100_000 and subprocess.run(
                ["perf", "report", "-i", data, "--stdio", "--header-only"], capture_output=True).returncode == 0:
            break
    else:
        raise RuntimeError("perf record failed three times")
    thread.join()
    return bench, data


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--newswired", default="", help="NAME=BIN,... (default: this build)")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--no-redis", action="store_true", help="skip the redis-server row (user vs kernel only)")
    args = parser.parse_args()
    h.require_corpus()
    builds = [tuple(item.split("=", 1)) for item in args.newswired.split(",") if item] or [("newswired", h.NEWSWIRED)]
    temp = tempfile.mkdtemp(prefix="newswire-profile-")
    jsonl = os.path.join(temp, "records.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        f.write("\n".join(h.first_records(args.records)) + "\n")
    results = []
    for name, binary in builds:
        h.NEWSWIRED = binary
        server = h.Newswired()
        try:
            h.ingest_jsonl(server.port, jsonl)
            bench, data = profile(name, server.port, server.pid, ["--max-ids", str(args.records)], args, temp)
        finally:
            server.stop()
        results.append((name, bench["serverCPUMicrosPerRequest"], shares(data)))
    redis_row = None
    if not args.no_redis:
        port = h.free_port()
        redis = start_redis(port)
        try:
            load_redis(port, h.first_records(args.records))
            bench, data = profile("redis", port, redis.pid, ["--resp-keys", str(args.records)], args, temp,
                                  shown_pid="$REDIS_PID")
        finally:
            redis.terminate()
            redis.wait()
        kernel = shares(data)["kernel"]
        micros = bench["serverCPUMicrosPerRequest"]
        redis_row = (micros, kernel)
    print(f"## Server CPU per GET by component, pipeline 1 ({args.records} records, 50 connections, perf "
          f"cpu-clock for {args.seconds:g} s)\n")
    h.print_machine()
    headers = ["component"] + [f"{name}: share / µs per GET" for name, _, _ in results]
    table = None
    for name, micros, found in results:
        items = rows(found)
        if table is None:
            table = [[label] for label, _ in items]
        for row, (_, share) in zip(table, items):
            row.append(f"{share:.1f}% / {share * micros / 100:.2f}")
    table.append(["**server CPU per GET (under perf)**"] + [f"{micros:.2f} µs" for _, micros, _ in results])
    table.append(["user space"] + [f"{100 - f['kernel']:.1f}% / {(100 - f['kernel']) * m / 100:.2f}"
                                   for _, m, f in results])
    if redis_row:
        micros, kernel = redis_row
        table.append(["redis-server under the same generator (`--resp-keys`): CPU per GET; user space"]
                     + [f"{micros:.2f} µs; {100 - kernel:.1f}% / {(100 - kernel) * micros / 100:.2f}"] * len(results))
    print(h.table(headers, table))
    h.print_commands()
    shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
