#!/usr/bin/env python3
"""Live-query matching benchmark: StandingQueryMatcher vs the naive peer, same run, same articles.

For 1,000 and 10,000 standing queries (benchmarks/protocol/queries.txt, then variations: CJK topics sampled from
corpus titles, ANDs, ORs, exclusions, title-only, source and date filters, a few pure filters) and batches of 64
and 512 corpus articles, it times matching each committed batch:
  - Newswire: StandingQueryMatcher.match (analyse the batch, look up candidate queries by their indexed term,
    verify candidates, build hits with snippets for the matches);
  - naive peer: index the batch into a fresh SearchIndex and run every query over it (limit = batch size, same
    snippets). Both must report the same number of matches (printed as a cross-check).
The matcher first sees --warmup articles (untimed), as a running server's earlier batches would feed its term
statistics. Release build; single thread.

    python3 benchmarks/search/watch.py [--corpus ../shared/corpus/zh-news.jsonl] [--standing 1000,10000]
                                       [--batch 64,512] [--articles 4096]

Skips (exit 0, with a message) when the corpus is absent.
"""
import argparse
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "zh-news.jsonl"))
    ap.add_argument("--queries", default=os.path.join(ROOT, "benchmarks", "protocol", "queries.txt"))
    ap.add_argument("--standing", default="1000,10000")
    ap.add_argument("--batch", default="64,512")
    ap.add_argument("--articles", default="4096")
    ap.add_argument("--warmup", default="1024")
    ap.add_argument("--naive-batches", default="8")
    args = ap.parse_args()
    corpus = os.path.abspath(args.corpus)
    if not os.path.exists(corpus):
        print(f"skipped: corpus {args.corpus} is absent")
        return

    build_cmd = ["swift", "build", "-c", "release", "--scratch-path", ".build-release",
                 "--product", "newswire-search-bench"]
    subprocess.run(build_cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    exe = os.path.join(ROOT, ".build-release", "release", "newswire-search-bench")
    cmd = [exe, "--watch", "--corpus", corpus, "--queries", args.queries, "--standing", args.standing,
           "--batch", args.batch, "--articles", args.articles, "--warmup", args.warmup,
           "--naive-batches", args.naive_batches]
    load = os.getloadavg()[0]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    swift_version = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print("# Live queries: matching committed batches against standing queries")
    print()
    print(f"- machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} {platform.release()}")
    print(f"- load average at start: {load:.2f}")
    print(f"- {swift_version}")
    print(f"- command: python3 benchmarks/search/watch.py --standing {args.standing} --batch {args.batch} "
          f"--articles {args.articles} --warmup {args.warmup} --naive-batches {args.naive_batches}   (builds: {' '.join(build_cmd)})")
    print(f"- articles: {out['corpusArticles']:,} in the corpus; {out['warmup']:,} matched first (untimed), then "
          f"{args.articles} timed, spread over the corpus; every change an insert; single thread")
    print()
    print("| standing queries | batch | snippets | matcher ms/batch (mean, p50, max) | naive ms/batch (mean, p50) | "
          "naive / matcher (mean) | matcher µs/article | queries evaluated/batch | pairs evaluated/batch | "
          "always-checked | matches/article | naive agrees | registry RSS |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for c in out["configs"]:
        agree = (f"yes ({c['naiveBatches']} batches)" if c["checkedMatches"] == c["naiveMatches"]
                 else f"NO: {c['checkedMatches']} vs {c['naiveMatches']}")
        print(f"| {c['standing']:,} | {c['batchSize']} | {'on' if c['snippets'] else 'off'} | "
              f"{c['matcherMeanMs']:.1f}, {c['matcherP50Ms']:.1f}, {c['matcherMaxMs']:.1f} | "
              f"{c['naiveMeanMs']:.1f}, {c['naiveP50Ms']:.1f} | **{c['naiveMeanMs'] / c['matcherMeanMs']:.1f}x** | "
              f"{c['matcherMeanMs'] * 1e3 / c['batchSize']:.0f} | {c['evaluatedQueriesPerBatch']:,.0f} | "
              f"{c['evaluatedPairsPerBatch']:,.0f} | {c['alwaysChecked']} | {c['matches'] / c['articles']:.1f} | "
              f"{agree} | {c['registryBytes'] / 1e6:.1f} MB |")
    print()
    print("naive = a fresh SearchIndex of the batch, then every standing query as a SEARCH over it (limit = batch "
          "size, same snippet setting), timed on the first --naive-batches batches of each row; the matcher on all "
          "of them. 'naive agrees': both found the same number of (query, article) matches on those batches.")
    if any(c["checkedMatches"] != c["naiveMatches"] for c in out["configs"]):
        print()
        print("MISMATCH: the matcher and the naive peer disagree")
        sys.exit(1)


if __name__ == "__main__":
    main()
