#!/usr/bin/env python3
"""Generates benchmarks/search/queries.txt: a fixed, seeded query set sampled from the corpus.

Mix (300 queries): CJK substrings of 1, 2, 3, 4 and 6 characters taken from titles and bodies, two-term
conjunctions, and digit words alone or with CJK text. Re-running with the same corpus reproduces the file.

    python3 benchmarks/search/make_queries.py [../shared/corpus/zh-news.jsonl] > benchmarks/search/queries.txt
"""
import json
import random
import re
import sys
import unicodedata

corpus = sys.argv[1] if len(sys.argv) > 1 else "../shared/corpus/zh-news.jsonl"
rng = random.Random(20240401)
fields = []
for line in open(corpus, encoding="utf-8"):
    d = json.loads(line)
    fields.append(unicodedata.normalize("NFKC", d["title"]).lower())
    fields.append(unicodedata.normalize("NFKC", d["body"]).lower())


def cjk(c):
    o = ord(c)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF


def substring(n):
    while True:
        f = rng.choice(fields)
        if len(f) < n:
            continue
        i = rng.randrange(len(f) - n + 1)
        s = f[i : i + n]
        if all(cjk(c) for c in s):
            return s


numbers = sorted({w for f in fields[:4000] for w in re.findall(r"\b20\d\d\b|\b\d{2,3}\b", f)})
plan = [(1, 15), (2, 90), (3, 60), (4, 55), (6, 30), ("and", 35), ("num", 15)]
queries = []
for kind, count in plan:
    for _ in range(count):
        if kind == "and":
            queries.append(substring(2) + " " + substring(rng.choice([2, 3, 4])))
        elif kind == "num":
            n = rng.choice(numbers)
            queries.append(n if rng.random() < 0.4 else n + " " + substring(2))
        else:
            queries.append(substring(kind))
rng.shuffle(queries)
print("\n".join(queries))
