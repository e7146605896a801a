#!/usr/bin/env python3
"""Search over the protocol: QPS and latency percentiles for the fixed query file at several connection counts.

The whole corpus is ingested into a fresh newswired; `newswire bench --mix search=1 --queries queries.txt` then
runs closed loop (pipeline 1) at each connection count. The peer is the same server answering PING at the same
connection count (protocol and connection-loop cost alone), so the search column shows what the engine adds.

A second table measures server CPU per request at 16 connections x pipeline 4 for SEARCH (top 10 with
snippets and highlights), SEARCH with every facet, and PING, in interleaved rounds: the goal is a search at most
6x a PING's server CPU, and with facets at most 2x that.

With `--newswired NAME=BIN,NAME=BIN` (e.g. a build before and after a change) the second table is measured for
every binary in the same run: one fresh server per binary, all ingested first, then rounds interleaving them.

Usage: benchmarks/protocol/search.py [--connections 1,4,16,64] [--seconds 5] [--rounds 2] [--no-build]
                                     [--newswired before=BIN,after=BIN]
"""
import argparse
import os
import shutil
import tempfile

import harness as h

QUERIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries.txt")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,4,16,64")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--newswired", default="", help="NAME=BIN,... : compare several server builds (table 2)")
    args = parser.parse_args()
    builds = [tuple(item.split("=", 1)) for item in args.newswired.split(",") if item]
    h.require_corpus()
    if not args.no_build:
        h.build()
    rows = []
    pipelined = []
    servers = []
    try:
        for name, binary in builds or [("", h.NEWSWIRED)]:
            h.NEWSWIRED = binary
            server = h.Newswired()
            servers.append((name, server))
            seconds, summary = h.ingest_jsonl(server.port, h.CORPUS)
            h.log(f"{name or 'newswired'}: ingested {summary['ingested']} in {seconds:.1f}s")
        server = servers[-1][1]
        for connections in [int(c) for c in args.connections.split(",") if c]:
            common = ["-c", str(connections), "-p", "1", "-d", f"{args.seconds}s", "--warmup", "1s", "--threads", "2"]
            s = h.bench(server.port, common + ["--mix", "search=1", "--queries", QUERIES, "--search-limit",
                                               str(args.limit)], server_pid=server.pid)
            p = h.bench(server.port, common + ["--mix", "ping=1"], server_pid=server.pid)
            errors = sum(s["errors"].values())
            rows.append([
                connections, h.fmt_rate(s["throughput"]), h.fmt_us(s["latency"]["p50"]),
                h.fmt_us(s["latency"]["p90"]), h.fmt_us(s["latency"]["p99"]), h.fmt_us(s["latency"]["max"]),
                f"{s['serverCPUMicrosPerRequest']:.0f}", f"{s['clientCPUMicrosPerRequest']:.1f}",
                h.fmt_rate(p["throughput"]), f"{s['throughput'] / p['throughput']:.3f}",
                str(errors) if errors else "0",
            ])
        common = ["-c", "16", "-p", "4", "-d", f"{args.seconds}s", "--warmup", "1s", "--threads", "2"]
        search = ["--mix", "search=1", "--queries", QUERIES, "--search-limit", str(args.limit)]
        for round_number in range(1, args.rounds + 1):
            for name, server in servers:
                results = {
                    "search": h.bench(server.port, common + search, server_pid=server.pid),
                    "search with facets": h.bench(server.port, common + search + ["--search-facets"],
                                                  server_pid=server.pid),
                    "ping": h.bench(server.port, common + ["--mix", "ping=1"], server_pid=server.pid),
                }
                ping_cpu = results["ping"]["serverCPUMicrosPerRequest"]
                search_cpu = results["search"]["serverCPUMicrosPerRequest"]
                for request, r in results.items():
                    cpu = r["serverCPUMicrosPerRequest"]
                    pipelined.append([
                        round_number, *([name] if builds else []), request, h.fmt_rate(r["throughput"]),
                        h.fmt_us(r["latency"]["p50"]), h.fmt_us(r["latency"]["p99"]), f"{cpu:.1f}",
                        f"{cpu / ping_cpu:.1f}x", f"{cpu / search_cpu:.2f}x" if request != "ping" else "",
                        str(sum(r["errors"].values())),
                    ])
    finally:
        for _, server in servers:
            server.stop()
    print(f"## Search over the protocol: {sum(1 for l in open(QUERIES) if l.strip() and not l.startswith('#'))} "
          f"fixed queries, whole corpus, limit {args.limit} with snippets\n")
    h.print_machine()
    if rows:
        print(h.table(["connections", "searches/s", "p50", "p90", "p99", "max", "server CPU µs/search",
                       "load-gen CPU µs/search", "PING/s (peer)", "search vs PING", "errors"], rows))
        print()
    print("### Server CPU per request, 16 connections x pipeline 4 (goal: search <= 6x PING; with facets <= 2x "
          "search)\n")
    print(h.table(["round", *(["build"] if builds else []), "request", "requests/s", "p50", "p99",
                   "server CPU µs/request", "vs PING", "vs search", "errors"], pipelined))
    h.print_commands()


if __name__ == "__main__":
    main()
