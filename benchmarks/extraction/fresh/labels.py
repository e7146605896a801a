#!/usr/bin/env python3
"""Builds manifest.jsonl for the fresh held-out pages from hand-made labels.

Same rules and page text as ../holdout/labels.py (whose page_text and cut it uses), written from the pages' HTML and
visible text before any extractor ran on them. One addition: `start` may be "N:text" to take the N-th occurrence
(a page can repeat its opening paragraph in a hidden share block above the article).
usage: python3 benchmarks/extraction/fresh/labels.py  (needs lxml)
"""
import os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "holdout"))
from labels import cut, label_row, page_text, write_manifest  # noqa: E402

# id, file, start, end, date, author, kind
LABELS = [
    ("fr-001", "intl-broadcaster-1.html", "香港行政长官梁振英在各方压力下", "对梁振英提出不信任动议。",
     "2012-12-10 10:41", "UNKNOWN", "international broadcaster, time shown in GMT, captions, share bars twice"),
    ("fr-002", "national-daily-1.html", "2:在美国旧金山举行的中美元首会晤", "并采取更多令人安心的行动。",
     "2023-11-17 15:13", "严玉洁 王辉", "national daily, opening repeated in a hidden share block, editor-only credit"),
    ("fr-003", "agency-2.html", "新华社北京11月17日电", "推动中药材供需总体平衡。",
     "2023-11-17 20:52:15", "张樵苏", "agency news, short, editor-only credit"),
]


def main():
    rows = []
    for pid, fname, start, end, date, author, kind in LABELS:
        text = page_text(os.path.join(HERE, "pages", fname))
        nth, _, anchor = start.partition(":") if start[:1].isdigit() else ("1", "", start)
        offset = -1
        for _ in range(int(nth)):
            offset = text.find(anchor, offset + 1)
            if offset < 0:
                sys.exit(f"{pid}: start {start!r} not in page text")
        body = cut(text[offset:], anchor, end, pid).strip()
        rows.append(label_row(pid, fname, body, date, author, kind))
    write_manifest(HERE, rows)


if __name__ == "__main__":
    main()
