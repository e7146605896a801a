#!/usr/bin/env python3
"""Search on the segments writes leave behind, against the same index compacted (what a server does once writes
have been quiet for `--compact-after-quiet` seconds).

1. In process and deterministic: the corpus written in batches (`newswire-search-bench --batches N`, each batch one
   write followed by the merges the policy asks for, as a server's group commits), searched as it is and after
   `--compact`, alternating, for the search benchmark's queries and the protocol's.
2. A server: a release `newswired --compact-after-quiet 0` ingests the corpus over the protocol (`newswire ingest
   --jsonl`); `STATS index.segments` is read right after the ingest and while the merge thread settles; the server
   is stopped and the snapshot it saved is searched as it is and compacted. How many segments a burst leaves
   depends on how its group commits fell (from 1 to a dozen on the same machine), so this part reports what it saw.

Usage: benchmarks/protocol/compaction.py [--rounds 3] [--batches 64] [--no-build]
"""
import argparse
import json
import os
import subprocess
import time

import harness as h

SEARCH_BENCH = os.path.join(h.BIN, "newswire-search-bench")
QUERY_SETS = [
    ("search benchmark's 300 (mostly rare)", os.path.join(h.ROOT, "benchmarks", "search", "queries.txt")),
    ("protocol's 40 (common)", os.path.join(h.ROOT, "benchmarks", "protocol", "queries.txt")),
]
HEADERS = ["index", "queries", "round", "segments searched", "p50", "mean", "p99", "with snippets p50",
           "with snippets mean", "sum of totals"]


def stat(port, name):
    out = subprocess.run([h.NEWSWIRE, "stats", "--port", str(port), "--json"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)[name]


def search_bench(source, queries, compact):
    cmd = [SEARCH_BENCH, "--corpus", h.CORPUS, "--queries", queries, "--rounds", "5", *source]
    if compact:
        cmd.append("--compact")
    h.COMMANDS.append(" ".join(cmd))
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def compare(label, source, rounds, rows):
    """Alternates the index as written and compacted; returns the segments written and the compactions' seconds."""
    written, compaction = None, []
    for name, queries in QUERY_SETS:
        for round_number in range(1, rounds + 1):
            for compact in (False, True):
                r = search_bench(source, queries, compact)
                written = r["loadedSegments"]
                if compact:
                    compaction.append(r["compactSeconds"])
                latencies, snippets = r["latenciesMs"], r["snippetLatenciesMs"]
                rows.append([
                    label + (", compacted" if compact else ""), name, round_number, r["segments"],
                    f"{r['p50ms'] * 1000:.1f}", f"{sum(latencies) / len(latencies) * 1000:.1f}",
                    f"{r['p99ms'] * 1000:.1f}", f"{r['snippetP50ms'] * 1000:.1f}",
                    f"{sum(snippets) / len(snippets) * 1000:.1f}", f"{sum(r['totals']):,}",
                ])
    return written, compaction


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=64, help="articles per write in the in-process part")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    h.require_corpus()
    if not args.no_build:
        h.build()
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", h.SCRATCH, "--product",
                        "newswire-search-bench"], cwd=h.ROOT, check=True, stdout=subprocess.DEVNULL)
    rows = []
    written, compaction = compare(f"written in batches of {args.batches}", ["--batches", str(args.batches)],
                                  args.rounds, rows)
    in_process = (f"In process, the corpus written in batches of {args.batches} left {written} segments; "
                  f"compacting them took {min(compaction):.2f}–{max(compaction):.2f} s.")

    server = h.Newswired(extra=["--compact-after-quiet", "0"])
    seconds, summary = h.ingest_jsonl(server.port, h.CORPUS)
    seen = [stat(server.port, "index.segments")]
    settle_start = time.perf_counter()
    while time.perf_counter() - settle_start < 3:
        time.sleep(0.5)
        seen.append(stat(server.port, "index.segments"))
    server.temp, temp = None, server.temp  # keep the data directory until the snapshot is searched
    server.stop()
    snapshot = os.path.join(server.data_dir, "index.snapshot")
    served, _ = compare("a server's snapshot", ["--search-snapshot", snapshot], args.rounds, rows)
    subprocess.run(["rm", "-rf", temp], check=True)

    print("## Search on the segments writes leave, and compacted\n")
    h.print_machine()
    print(in_process + f" A server with compaction off ingested the corpus over the protocol ({summary['ingested']:,} "
          f"articles in {seconds:.1f} s): `STATS index.segments` read {' → '.join(map(str, seen))} from the ingest's "
          f"end over 3 s, and its snapshot held {served}. Each query's best of 5 runs, top 10, µs:\n")
    print(h.table(HEADERS, rows))
    h.print_commands()


if __name__ == "__main__":
    main()
