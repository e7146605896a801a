#!/usr/bin/env python3
"""Search benchmark: Newswire's SearchIndex vs SQLite FTS5 (trigram) vs Tantivy fed Newswire's bigrams.

One script, one run, release build. For the corpus and a 10x variant (ids suffixed, bodies unchanged) it
measures index build time, index memory, top-10 latency p50/p99 and single-thread QPS over the committed query
file, plus snapshot write/load (restart) for Newswire. Every engine is timed in-process (Swift: the
newswire-search-bench executable; SQLite and Tantivy: Python bindings, so their numbers include a few
microseconds of binding overhead per call). Ratios are printed against Newswire on the same queries.

    python3 benchmarks/search/run.py [--corpus ../shared/corpus/zh-news.jsonl] [--scales 1,10]

Needs: swift, python3 with sqlite3 (FTS5) and `pip install tantivy`.
"""
import argparse
import gc
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROUNDS = 3  # a query's latency is its fastest of ROUNDS timed runs after a warm-up, for every engine
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


# --- Newswire's analyzer rules in Python (for Tantivy's tokens and FTS5's query text) ---------------------


def is_cjk(c):
    o = ord(c)
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or o == 0x3007 or 0x3040 <= o <= 0x30FF
            or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF)


def is_word(c):
    return not is_cjk(c) and (c.isalnum() or unicodedata.category(c).startswith("M"))


def runs(text):
    """Yields ('cjk'|'word'|'break', string) over NFKC-lowercased text."""
    text = unicodedata.normalize("NFKC", text).lower()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        j = i + 1
        if is_cjk(c):
            while j < n and is_cjk(text[j]):
                j += 1
            yield "cjk", text[i:j]
        elif is_word(c):
            while j < n and is_word(text[j]):
                j += 1
            yield "word", text[i:j]
        else:
            yield "break", c
        i = j


def tokens(text):
    """Bigram-field tokens (bigrams of each CJK run, words; '_' marks a break so phrases cannot span it) and
    unigram-field tokens."""
    bi, uni = [], []
    for kind, s in runs(text):
        if kind == "cjk":
            uni.extend(s)
            bi.extend(s[k : k + 2] for k in range(len(s) - 1))
            bi.append("_")
        elif kind == "word":
            bi.append(s)
        elif not s.isspace():
            bi.append("_")
    return " ".join(bi), " ".join(uni)


def query_terms(query):
    terms = []
    for part in query.split():
        for kind, s in runs(part):
            if kind != "break":
                terms.append((kind, s))
    return terms


# --- engines -------------------------------------------------------------------------------------------------


def run_newswire(corpus, queries_path, scale, snapshot_dir):
    exe = os.path.join(ROOT, ".build-release", "release", "newswire-search-bench")
    cmd = [exe, "--corpus", corpus, "--queries", queries_path, "--scale", str(scale), "--snapshot", snapshot_dir]
    if scale == 1:
        cmd += ["--incremental", "1000000"]  # also ingest the corpus one article per upsert
    out = subprocess.run(cmd + ["--keep-snapshot"], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    # The restart in a fresh process, as a server starts: nothing left over from building or dropping an index.
    path = os.path.join(snapshot_dir, f"search-{scale}.snapshot")
    fresh = subprocess.run([exe, "--load-only", path], check=True, capture_output=True, text=True)
    os.remove(path)
    result.update(json.loads(fresh.stdout))
    return result


def load_docs(corpus):
    docs = []
    for line in open(corpus, encoding="utf-8"):
        d = json.loads(line)
        docs.append((d["id"], d["title"], d["body"]))
    return docs


def run_sqlite(docs, scale, queries):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(id UNINDEXED, title, body, tokenize='trigram')")
    start = time.perf_counter()
    with db:
        for k in range(scale):
            db.executemany("INSERT INTO t VALUES (?,?,?)", ((f"{i}-{k}" if scale > 1 else i, t, b) for i, t, b in docs))
    build = time.perf_counter() - start
    size = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    lat, answerable, totals = [], [], []
    sql = "SELECT id FROM t WHERE t MATCH ? ORDER BY rank LIMIT 10"
    for qi, q in enumerate(queries):
        terms = query_terms(q)
        if any(len(s) < 3 for _, s in terms):
            continue  # the trigram tokenizer cannot match strings shorter than three characters
        expr = " AND ".join('"' + s.replace('"', '""') + '"' for _, s in terms)
        db.execute(sql, (expr,)).fetchall()  # warm-up
        best = float("inf")
        for _ in range(ROUNDS):
            t0 = time.perf_counter_ns()
            db.execute(sql, (expr,)).fetchall()
            best = min(best, (time.perf_counter_ns() - t0) / 1e6)
        lat.append(best)
        answerable.append(qi)
    db.close()
    return {"build": build, "bytes": size, "lat": lat, "idx": answerable}


def run_tantivy(docs, scale, queries):
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    sb.add_text_field("bi", tokenizer_name="whitespace", index_option="position")
    sb.add_text_field("uni", tokenizer_name="whitespace", index_option="freq")
    schema = sb.build()
    index = tantivy.Index(schema)
    pre = [(i,) + tokens(t + "\n" + b) for i, t, b in docs]  # tokenising is not part of the timed build
    before = rss()
    start = time.perf_counter()
    writer = index.writer(heap_size=512_000_000)
    for k in range(scale):
        for i, bi, uni in pre:
            writer.add_document(tantivy.Document(id=f"{i}-{k}" if scale > 1 else i, bi=bi, uni=uni))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    build = time.perf_counter() - start
    grown = rss() - before
    searcher = index.searcher()
    lat_count, lat_top, counts = [], [], []
    for query in tantivy_queries(schema, queries):
        counts.append(searcher.search(query, 10, count=True).count)
        for count, sink in ((True, lat_count), (False, lat_top)):
            searcher.search(query, 10, count=count)  # warm-up
            best = float("inf")
            for _ in range(ROUNDS):
                t0 = time.perf_counter_ns()
                searcher.search(query, 10, count=count)
                best = min(best, (time.perf_counter_ns() - t0) / 1e6)
            sink.append(best)
    return {"build": build, "rss": grown, "lat_count": lat_count, "lat_top": lat_top, "counts": counts,
}


def tantivy_queries(schema, queries):
    import tantivy

    built = []
    for q in queries:
        parts = []
        for kind, s in query_terms(q):
            if kind == "word":
                parts.append(tantivy.Query.term_query(schema, "bi", s))
            elif len(s) == 1:
                parts.append(tantivy.Query.term_query(schema, "uni", s))
            elif len(s) == 2:
                parts.append(tantivy.Query.term_query(schema, "bi", s))
            else:
                parts.append(tantivy.Query.phrase_query(schema, "bi", [s[k : k + 2] for k in range(len(s) - 1)]))
        built.append(parts[0] if len(parts) == 1 else tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, p) for p in parts]))
    return built


def run_tantivy_snippets(docs, queries):
    """Top 10 with a snippet and highlights per hit through tantivy-py's SnippetGenerator (120 characters).

    Tantivy makes snippets by re-tokenising a stored field, so this index stores the bigram field (a separate
    index, so storing it does not change the row above). Its snippets are cut from the stored token text; the
    work is the same kind Newswire's snippets do: fetch each hit's stored text, find the query's terms in it,
    pick a window, and mark the highlights.
    """
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    sb.add_text_field("bi", stored=True, tokenizer_name="whitespace", index_option="position")
    sb.add_text_field("uni", tokenizer_name="whitespace", index_option="freq")
    schema = sb.build()
    index = tantivy.Index(schema)
    writer = index.writer(heap_size=512_000_000)
    for i, t, b in docs:
        bi, uni = tokens(t + "\n" + b)
        writer.add_document(tantivy.Document(id=i, bi=bi, uni=uni))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    lat = []

    def once(query):
        generator = tantivy.SnippetGenerator.create(searcher, query, schema, "bi")
        generator.set_max_num_chars(120)
        result = searcher.search(query, 10, count=True)
        return [(generator.snippet_from_doc(searcher.doc(address)).highlighted(), result.count)
                for _, address in result.hits]

    for query in tantivy_queries(schema, queries):
        once(query)  # warm-up
        best = float("inf")
        for _ in range(ROUNDS):
            t0 = time.perf_counter_ns()
            once(query)
            best = min(best, (time.perf_counter_ns() - t0) / 1e6)
        lat.append(best)
    return {"lat": lat}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "zh-news.jsonl"))
    ap.add_argument("--queries", default=os.path.join(HERE, "queries.txt"))
    ap.add_argument("--scales", default="1,10")
    ap.add_argument("--no-fts5", action="store_true", help="leave out SQLite FTS5 (its 10x build takes minutes)")
    args = ap.parse_args()
    corpus = os.path.abspath(args.corpus)
    queries = [q for q in open(args.queries, encoding="utf-8").read().split("\n") if q]

    build_cmd = ["swift", "build", "-c", "release", "--scratch-path", ".build-release",
                 "--product", "newswire-search-bench"]
    subprocess.run(build_cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    import tantivy

    swift_version = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print("# Newswire search benchmark")
    print()
    print(f"- machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} {platform.release()}")
    print(f"- load average at start: {os.getloadavg()[0]:.2f}")
    print(f"- {swift_version}; Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; "
          f"tantivy-py {tantivy.__version__}")
    print(f"- command: python3 benchmarks/search/run.py --scales {args.scales}{' --no-fts5' if args.no_fts5 else ''}   "
          f"(builds: {' '.join(build_cmd)})")
    print(f"- queries: {len(queries)} from {os.path.relpath(args.queries, ROOT)}; top-10; single thread; "
          f"a query's latency is its fastest of {ROUNDS} runs after a warm-up (same for every engine); "
          "QPS = 1 / mean latency")
    print()

    docs = load_docs(corpus)
    snapshot_dir = os.path.join(ROOT, ".build-release", "bench-snapshots")
    os.makedirs(snapshot_dir, exist_ok=True)
    for scale in [int(s) for s in args.scales.split(",")]:
        nw = run_newswire(corpus, args.queries, scale, snapshot_dir)
        gc.collect()
        sq = None if args.no_fts5 else run_sqlite(docs, scale, queries)
        gc.collect()
        tv = run_tantivy(docs, scale, queries)
        gc.collect()
        ts = run_tantivy_snippets(docs, queries) if scale == 1 else None
        gc.collect()
        nlat = nw["latenciesMs"]
        sub = [nlat[i] for i in sq["idx"]] if sq else []
        raw = nw["rawTextBytes"]
        mb = lambda b: f"{b / 1e6:.1f} MB"

        print(f"## {nw['articles']:,} articles ({'corpus' if scale == 1 else f'{scale}x corpus'}), "
              f"raw title+body text {mb(raw)}")
        print()
        print("| engine | build s | index memory | p50 ms | p99 ms | QPS (1 thread) | answers |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        print(f"| Newswire SearchIndex (exact total, no snippets) | {nw['buildSeconds']:.2f} | "
              f"{mb(nw['indexAnonymousBytes'])} anonymous RSS ({nw['indexAnonymousBytes'] / raw:.2f}x raw); payload "
              f"{mb(nw['postingsBytes'] + nw['dictionaryBytes'] + nw['storedTextBytes'] + nw['attributeBytes'])} | "
              f"{pct(nlat, .5):.4f} | {pct(nlat, .99):.3f} | {1000 / statistics.mean(nlat):,.0f} | "
              f"{len(queries)}/{len(queries)} |")
        print(f"| Newswire, with snippets + highlights | | | {nw['snippetP50ms']:.4f} | {nw['snippetP99ms']:.3f} | | |")
        if ts:
            print(f"| Tantivy, count=True, with SnippetGenerator snippets + highlights (stored bigram field) | | | "
                  f"{pct(ts['lat'], .5):.4f} | {pct(ts['lat'], .99):.3f} | | |")
        print(f"| Tantivy, our bigrams, count=True (exact total) | {tv['build']:.2f} | ~{mb(tv['rss'])} RSS growth | "
              f"{pct(tv['lat_count'], .5):.4f} | {pct(tv['lat_count'], .99):.3f} | "
              f"{1000 / statistics.mean(tv['lat_count']):,.0f} | {len(queries)}/{len(queries)} |")
        print(f"| Tantivy, our bigrams, top-10 only (count=False) | | | {pct(tv['lat_top'], .5):.4f} | "
              f"{pct(tv['lat_top'], .99):.3f} | {1000 / statistics.mean(tv['lat_top']):,.0f} | |")
        if sq:
            print(f"| SQLite FTS5 trigram (ORDER BY rank LIMIT 10) | {sq['build']:.2f} | {mb(sq['bytes'])} DB pages | "
                  f"{pct(sq['lat'], .5):.4f} | {pct(sq['lat'], .99):.3f} | {1000 / statistics.mean(sq['lat']):,.0f} | "
                  f"{len(sq['idx'])}/{len(queries)} |")
            print(f"| Newswire on FTS5's answerable subset | | | {pct(sub, .5):.4f} | {pct(sub, .99):.3f} | "
                  f"{1000 / statistics.mean(sub):,.0f} | |")
        print()
        print("Ratios (>1 means Newswire is faster / smaller):")
        print(f"- p50 vs Tantivy (count=True): {pct(tv['lat_count'], .5) / pct(nlat, .5):.2f}x; "
              f"vs Tantivy top-10 only: {pct(tv['lat_top'], .5) / pct(nlat, .5):.2f}x; "
              f"p99 vs Tantivy (count=True): {pct(tv['lat_count'], .99) / pct(nlat, .99):.2f}x")
        if sq:
            print(f"- p50 vs FTS5 trigram on the {len(sq['idx'])} queries it can answer: "
                  f"{pct(sq['lat'], .5) / pct(sub, .5):.2f}x (goal >= 2x); p99: {pct(sq['lat'], .99) / pct(sub, .99):.2f}x")
        slat = nw["snippetLatenciesMs"]
        snippet_cost = [max(0.0, a - b) for a, b in zip(slat, nlat)]
        print(f"- goals: p50 vs Tantivy (count=True) {pct(nlat, .5) / pct(tv['lat_count'], .5):.2f}x of Tantivy's "
              f"(goal <= 0.5x); p99 {pct(nlat, .99) / pct(tv['lat_count'], .99):.2f}x of Tantivy's (goal <= 1x)")
        print(f"- snippets + highlights for the ten hits (per query: with snippets minus without), p50 "
              f"{pct(snippet_cost, .5):.4f} ms = {pct(snippet_cost, .5) / pct(nlat, .5):.2f}x the search's p50 "
              f"(goal <= 1x)" + (f"; with snippets vs Tantivy with snippets: p50 "
                                  f"{nw['snippetP50ms'] / pct(ts['lat'], .5):.2f}x, p99 "
                                  f"{nw['snippetP99ms'] / pct(ts['lat'], .99):.2f}x of Tantivy's" if ts else ""))
        slowest = sorted(range(len(queries)), key=lambda i: -nlat[i])[:5]
        print("- slowest Newswire queries (ms, Newswire / Tantivy count=True, total): " + "; ".join(
            f"`{queries[i]}` {nlat[i]:.3f} / {tv['lat_count'][i]:.3f}, {nw['totals'][i]:,}" for i in slowest))
        print(f"- build vs Tantivy: {tv['build'] / nw['buildSeconds']:.2f}x" + (
            f"; vs FTS5: {sq['build'] / nw['buildSeconds']:.2f}x" if sq else ""))
        if nw.get("incrementalCount"):
            print(f"- Newswire live ingest: {nw['incrementalCount']:,} single-article upserts into a fresh index in "
                  f"{nw['incrementalSeconds']:.2f} s ({nw['incrementalCount'] / nw['incrementalSeconds']:,.0f}/s, "
                  "segment merges included)")
        agree = sum(1 for a, b in zip(nw["totals"], tv["counts"]) if a == b)
        print(f"- cross-check: Tantivy's match count equals Newswire's total on {agree}/{len(queries)} queries "
              "(same tokens, so the same exact semantics)")
        print(f"- Newswire snapshot: {mb(nw['snapshotBytes'])}, write {nw['snapshotWriteSeconds']:.2f} s, "
              f"load (restart, a fresh process) {nw['snapshotLoadSeconds']:.2f} s, anonymous RSS after load "
              f"{mb(nw['loadedAnonymousBytes'])} ({nw['loadedAnonymousBytes'] / raw:.2f}x raw; after the bulk build "
              f"{nw['indexAnonymousBytes'] / raw:.2f}x); VmRSS growth, which also counts shared-library code pages "
              f"touched: {nw['indexRSSBytes'] / raw:.2f}x after the build, {nw['loadedRSSBytes'] / raw:.2f}x after "
              "the restart")
        print()


if __name__ == "__main__":
    main()
