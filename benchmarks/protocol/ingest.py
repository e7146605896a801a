#!/usr/bin/env python3
"""Ingest over the protocol: the whole corpus into a fresh newswired, as JSON Lines records and as raw HTML pages.

JSONL: `newswire ingest --jsonl` sends PUT batches of records. Pages: every record is written out as an HTML page
(title, date line, paragraphs; UTF-8) and `newswire ingest DIR` sends one INGEST per page, which the server parses
with libxml2 before storing. Both count only what the server acknowledged as durably stored and indexed. The peer
is redis-server loading the same JSONL lines with `redis-cli --pipe` (a floor: no parsing, no index, no fsync).
Goal: the whole corpus in under 5 s.

Usage: benchmarks/protocol/ingest.py [--records N] [--concurrency 128] [--compression] [--no-build]

--concurrency is what `newswire ingest` keeps in flight (its default, 128, is the server's per-connection limit;
runs before the group commit used 32). `newswire ingest` leaves zlib off for a loopback server; --compression turns
it on, as every run before that change had it.
"""
import argparse
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import harness as h


def write_pages(records, directory):
    os.makedirs(directory, exist_ok=True)
    for index, line in enumerate(records):
        r = json.loads(line)
        paragraphs = "".join(f"<p>{html.escape(p)}</p>\n" for p in r["body"].split("\n") if p.strip())
        canonical = f'<link rel="canonical" href="{html.escape(r["url"])}">' if r.get("url") else ""
        page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(r["title"])}</title>'
                f'{canonical}</head><body><div class="nav">首页 | 新闻 | 视频</div>'
                f'<h1>{html.escape(r["title"])}</h1><div class="info">来源：{html.escape(r["source"])} '
                f'发布时间：{r["published"]}</div><div class="content">\n{paragraphs}</div>'
                f'<div class="footer">版权所有 央视网</div></body></html>')
        with open(os.path.join(directory, f"{index:06d}.html"), "w", encoding="utf-8") as f:
            f.write(page)


def redis_load(records):
    if not shutil.which("redis-server"):
        return None
    port = h.free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        h.wait_for_port(port, process=process)
        payload = bytearray()
        for line in records:
            key = json.loads(line)["id"].encode()
            value = line.encode()
            payload += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
        h.COMMANDS.append(f"redis-cli -p {port} --pipe < SET <id> <record JSON> for each record")
        started = time.perf_counter()
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=bytes(payload), check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=0, help="first N records only (0: all)")
    parser.add_argument("--concurrency", type=int, default=128, help="requests in flight (newswire ingest's default)")
    parser.add_argument("--compression", action="store_true", help="pass --compression (zlib on loopback too)")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    h.require_corpus()
    if not args.no_build:
        h.build()
    with open(h.CORPUS, encoding="utf-8") as f:
        records = [line.rstrip("\n") for line in f if line.strip()]
    if args.records:
        records = records[: args.records]
    temp = tempfile.mkdtemp(prefix="newswire-ingest-")
    jsonl = os.path.join(temp, "records.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        f.write("\n".join(records) + "\n")
    pages = os.path.join(temp, "pages")
    write_pages(records, pages)
    rows = []
    try:
        redis_seconds = redis_load(records)
        for kind in ("jsonl", "pages"):
            server = h.Newswired()
            try:
                cpu0 = h.cpu_seconds(server.pid)
                cmd = [h.NEWSWIRE, "ingest", "--port", str(server.port), "--json", "--concurrency",
                       str(args.concurrency)] + (["--compression"] if args.compression else [])
                cmd += ["--jsonl", jsonl] if kind == "jsonl" else [pages]
                h.COMMANDS.append(" ".join(cmd).replace(temp, "$TMP"))
                started = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True)
                seconds = time.perf_counter() - started
                cpu = h.cpu_seconds(server.pid) - cpu0
                summary = json.loads(done.stdout.strip().splitlines()[-1])
            finally:
                server.stop()
            stored = summary["ingested"] + summary["updated"] + summary["unchanged"]
            failed = len(summary["failed"])
            rows.append([
                "JSON Lines records (PUT batches)" if kind == "jsonl" else "raw HTML pages (INGEST, parsed by the server)",
                f"{stored:,}" + (f" ({failed:,} failed)" if failed else ""), f"{seconds:.2f} s",
                h.fmt_rate(stored / seconds), f"{cpu * 1e6 / max(1, stored):.0f}",
                "yes" if seconds < 5 else "no",
                f"{redis_seconds / seconds:.2f}" if redis_seconds else "n/a",
            ])
        if redis_seconds:
            rows.append(["redis-cli --pipe, same JSONL lines (peer: no parsing, index or fsync)",
                         f"{len(records):,}", f"{redis_seconds:.2f} s", h.fmt_rate(len(records) / redis_seconds),
                         "", "yes" if redis_seconds < 5 else "no", "1.00"])
    finally:
        shutil.rmtree(temp, ignore_errors=True)

    print(f"## Ingest over the protocol: {len(records):,} corpus articles into a fresh server\n")
    h.print_machine()
    print(h.table(["input", "articles stored", "wall time", "articles/s", "server CPU µs/article",
                   "under 5 s", "speed vs redis load"], rows))
    h.print_commands()


if __name__ == "__main__":
    main()
