#!/usr/bin/env python3
"""Live queries end to end: N standing queries (WATCH) while the corpus is ingested, on a release server.

For each watcher count the script starts a fresh `newswired`, runs `newswire bench watch` (N watches from
benchmarks/protocol/queries.txt and pairs of its queries) while one writer ingests the corpus as pages: every record
written out as an HTML page (as benchmarks/protocol/ingest.py does) and sent as one INGEST, the server parsing it,
128 in flight. With --records the writer PUTs the JSON Lines records instead (batches of 32, 8 PUTs in flight). It
reports the ingest time against the mean of two runs with no watchers, just before and just after, the delivery latency (INGEST or PUT
acknowledged -> event received) and events/s. Memory per watcher comes from separate runs that only register the
watches (and write one page): the server's peak RSS minus its RSS before, divided by N.

    python3 benchmarks/protocol/watch.py [--watchers 1000,10000] [--rounds 1] [--limit 0] [--records]

--distinct-queries gives every watcher a different query (the file's, then pairs, then triples of them); by
default the pairs come round again past the file's length squared, so 10,000 watchers hold 1,640 distinct queries.

--peer-server DIR (repeatable) runs DIR/newswired side by side with this tree's server in every round, with
this tree's `newswire` as the client (a before/after pair measured in the same run).
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from ingest import write_pages  # noqa: E402

QUERIES = os.path.join(harness.ROOT, "benchmarks", "protocol", "queries.txt")


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


SNIPPETS = True
CLIENT_LIBRARY = False
DISTINCT = False
LAG_STAGES = ("queued", "matched", "snippets", "offered", "streamed")


WRITES = None  # ("--pages", DIR) or ("--jsonl", FILE)


def bench_watch(port, watchers, limit, server_pid):
    cmd = [harness.NEWSWIRE, "bench", "watch", "--port", str(port), "--watchers", str(watchers), "--queries", QUERIES,
           "--server-pid", str(server_pid), *WRITES]
    if limit:
        cmd += ["--limit", str(limit)]
    if not SNIPPETS:
        cmd += ["--no-snippets"]
    if CLIENT_LIBRARY:
        cmd += ["--client-library"]
    if DISTINCT:
        cmd += ["--distinct-queries"]
    harness.COMMANDS.append(" ".join(cmd))
    # The bench client's own CPU: it decodes every event on the same cores the server ingests on.
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True)
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"bench watch failed ({done.returncode}): {done.stderr.strip()}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["clientCPUSeconds"] = (usage_after.ru_utime + usage_after.ru_stime) - (
        usage_before.ru_utime + usage_before.ru_stime)
    return result


def start_server(binary):
    if binary is None:
        return harness.Newswired()
    saved = harness.NEWSWIRED
    harness.NEWSWIRED = binary
    try:
        return harness.Newswired()
    finally:
        harness.NEWSWIRED = saved


def one_run(watchers, limit, binary=None):
    server = start_server(binary)
    try:
        before_cpu = harness.cpu_seconds(server.pid)
        result = bench_watch(server.port, watchers, limit, server.pid)
        result["serverCPUSeconds"] = harness.cpu_seconds(server.pid) - before_cpu
        return result
    finally:
        server.stop()


def memory_run(watchers, binary=None):
    server = start_server(binary)
    try:
        before = rss_kib(server.pid, "VmRSS")
        bench_watch(server.port, watchers, 1, server.pid)
        peak = rss_kib(server.pid, "VmHWM")
        return before, peak
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--watchers", default="1000,10000")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="pages (or records) to write (0: the whole corpus)")
    parser.add_argument("--records", action="store_true", help="PUT JSON Lines records instead of INGESTing pages")
    parser.add_argument("--no-snippets", action="store_true", help="hits without snippets")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory-per-watcher runs")
    parser.add_argument("--client-library", action="store_true",
                        help="the bench reads the watches through NewswireClient.watch, not its lean handler")
    parser.add_argument("--peer-server", action="append", default=[],
                        help="directory of another build's newswired, run side by side in every round (repeatable)")
    parser.add_argument("--distinct-queries", action="store_true",
                        help="every watcher a different query (pairs, then triples); by default pairs repeat past "
                             "the file's length squared (1,640 distinct queries for 10,000 watchers)")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    global SNIPPETS, WRITES, CLIENT_LIBRARY, DISTINCT
    SNIPPETS = not args.no_snippets
    CLIENT_LIBRARY = args.client_library
    DISTINCT = args.distinct_queries
    harness.require_corpus()
    if not args.no_build:
        harness.log("building release newswired and newswire…")
        harness.build()
    counts = [int(n) for n in args.watchers.split(",")]
    temp = tempfile.mkdtemp(prefix="newswire-watch-")
    try:
        if args.records:
            WRITES = ("--jsonl", harness.CORPUS)
        else:
            harness.log("writing the corpus out as HTML pages…")
            with open(harness.CORPUS, encoding="utf-8") as f:
                records = [line.rstrip("\n") for line in f if line.strip()]
            if args.limit:
                records = records[: args.limit]
            write_pages(records, os.path.join(temp, "pages"))
            WRITES = ("--pages", os.path.join(temp, "pages"))
        written = "records PUT" if args.records else "pages INGESTed"
        print(f"## Live queries: delivery while the corpus is {written} "
              f"({'with' if SNIPPETS else 'without'} snippets"
              f"{'; every watcher a different query' if DISTINCT else ''})\n")
        harness.print_machine()
        servers = [("this tree", None)]
        for peer in args.peer_server:
            servers.append((os.path.basename(os.path.normpath(peer)), os.path.join(peer, "newswired")))
        rows = []
        lag_rows = []
        # (server, watchers) -> per-round (ratio, delivery p99 ms), for the medians below the table.
        per_server = {}
        for round_number in range(args.rounds):
            for watchers in counts:
                for label, binary in servers:
                    # No watchers just before and just after the run with watchers, the ratio taken against their
                    # mean: the machine's speed drifts from one run to the next by as much as the watchers cost.
                    harness.log(f"round {round_number + 1}, {label}: baseline (no watchers)")
                    before = one_run(0, args.limit, binary)
                    harness.log(f"round {round_number + 1}, {label}: {watchers} watchers")
                    result = one_run(watchers, args.limit, binary)
                    harness.log(f"round {round_number + 1}, {label}: baseline again (no watchers)")
                    after = one_run(0, args.limit, binary)
                    baseline = {key: (before[key] + after[key]) / 2
                                for key in ("ingestSeconds", "serverCPUSeconds", "clientCPUSeconds",
                                            "serverIngestCPUSeconds", "clientIngestCPUSeconds")}
                    latency = result["latencyMs"]
                    row = [label] if args.peer_server else []
                    rows.append(row + [
                        f"{watchers:,}", f"{result['articles']:,}",
                        f"{baseline['ingestSeconds']:.1f} s", f"{result['ingestSeconds']:.1f} s",
                        f"{result['ingestSeconds'] / baseline['ingestSeconds']:.2f}x",
                        f"{latency['p50']:.1f} ms", f"{latency['p99']:.1f} ms", f"{latency['max']:.1f} ms",
                        f"{result.get('deliveredAfterIngestSeconds', 0) * 1000:.0f} ms",
                        f"{result['events']:,}", harness.fmt_rate(result["eventsPerSecond"]),
                        harness.fmt_us(result["serverMatchMicrosPerBatch"]), f"{result['serverEventsDropped']:.0f}",
                        f"{baseline['serverCPUSeconds']:.1f} s / {result['serverCPUSeconds']:.1f} s",
                        f"{baseline['serverIngestCPUSeconds']:.1f} s / {result['serverIngestCPUSeconds']:.1f} s",
                        f"{baseline['clientIngestCPUSeconds']:.2f} s / {result['clientIngestCPUSeconds']:.2f} s",
                        f"{result.get('serverCommitsHeld', 0):.0f} / {result.get('serverCommitHeldSeconds', 0):.1f} s",
                        f"{baseline['clientCPUSeconds']:.2f} s / {result['clientCPUSeconds']:.2f} s",
                    ])
                    per_server.setdefault((label, watchers), []).append(
                        (result["ingestSeconds"] / baseline["ingestSeconds"], latency["p99"]))
                    lag = result.get("serverLagMicros") or {}
                    if lag:
                        lag_rows.append(row + [f"{watchers:,}"] + [
                            f"{lag.get(stage + '_p50_micros', 0) / 1000:.1f} / {lag.get(stage + '_p99_micros', 0) / 1000:.1f}"
                            f" / {lag.get(stage + '_max_micros', 0) / 1000:.1f}" for stage in LAG_STAGES])
        headers = ["server"] if args.peer_server else []
        print(harness.table(
            headers + ["watchers", "articles", "ingest, no watchers (mean of before and after)", "ingest, watchers", "ratio", "delivery p50",
                       "p99", "max", "last event after the last acknowledgement", "events", "events/s", "match per committed batch", "events dropped (cut-offs)",
                       "server CPU, whole run (no watchers / watchers)",
                       "server CPU during the ingest (no watchers / watchers)",
                       "bench client CPU during the ingest (no watchers / watchers)",
                       "commits held by pacing (total wait)",
                       "bench client CPU, whole run (no watchers / watchers)"], rows))
        print()
        if args.rounds > 1:
            # The machine's speed drifts between rounds by as much as a change moves the ratio: compare medians.
            summary = []
            for (label, watchers), values in per_server.items():
                ratios = sorted(v[0] for v in values)
                p99s = sorted(v[1] for v in values)
                summary.append(([label] if args.peer_server else []) + [
                    f"{watchers:,}", str(len(values)), f"{statistics.median(ratios):.2f}x",
                    f"{ratios[0]:.2f}–{ratios[-1]:.2f}x", f"{statistics.median(p99s):.1f} ms",
                    f"{p99s[0]:.1f}–{p99s[-1]:.1f} ms"])
            print(harness.table((["server"] if args.peer_server else []) + [
                "watchers", "rounds", "median ingest ratio", "range", "median delivery p99", "range"], summary))
            print()
        if lag_rows:
            print("Where delivery latency accrues in the server (STATS `watches.lag.*`, ms, p50 / p99 / max; "
                  "p50 and p99 are the upper bounds of power-of-two buckets). Per committed batch: queued (commit "
                  "-> matching starts), matched, snippets; offered (events handed to the watches). Per event: "
                  "streamed (offered -> queued on the connection).\n")
            headers = ["server"] if args.peer_server else []
            print(harness.table(headers + ["watchers"] + list(LAG_STAGES), lag_rows))
            print()
        memory_rows = []
        for watchers in ([] if args.no_memory else counts):
            for label, binary in servers:
                harness.log(f"memory, {label}: {watchers} watchers registered")
                before, peak = memory_run(watchers, binary)
                row = [label] if args.peer_server else []
                memory_rows.append(row + [f"{watchers:,}", f"{before / 1024:.0f} MiB", f"{peak / 1024:.0f} MiB",
                                          f"{(peak - before) * 1024 / watchers / 1024:.1f} KiB"])
        if memory_rows:
            headers = ["server"] if args.peer_server else []
            print(harness.table(
                headers + ["watchers", "server RSS before", "peak RSS with the watches open", "per watcher"],
                memory_rows))
        load = os.getloadavg()
        print(f"\nLoad average at the end: {load[0]:.2f}.")
        harness.print_commands()
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
